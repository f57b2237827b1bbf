/* magic.c: every image type of CRIU 4.2 (magic.tsv): its magic, head form,
 * message types, payload rule and file names. The one place that knows them. */
#include <pthread.h>
#include <string.h>

#include "image.h"
#include "schema.h"

struct magic_info magic_table[] = {
	{ "APPARMOR", 0x59423047, FORM_COMMON, "apparmor_entry", NULL, PL_NONE, "apparmor.img", NULL, NULL },
	{ "AUTOFS", 0x49353943, FORM_COMMON, "autofs_entry", NULL, PL_NONE, "autofs-%u.img", NULL, NULL },
	{ "BINFMT_MISC", 0x67343323, FORM_COMMON, "binfmt_misc_entry", NULL, PL_NONE, "binfmt-misc.img binfmt-misc-%u.img", NULL, NULL },
	{ "BPFMAP_DATA", 0x64324033, FORM_COMMON, "bpfmap_data_entry", NULL, PL_BPFMAP, "bpfmap-data.img", NULL, NULL },
	{ "BPFMAP_FILE", 0x57506142, FORM_COMMON, "bpfmap_file_entry", NULL, PL_NONE, "bpfmap-file.img", NULL, NULL },
	{ "CGROUP", 0x59383330, FORM_COMMON, "cgroup_entry", NULL, PL_NONE, "cgroup.img", NULL, NULL },
	{ "CORE", 0x55053847, FORM_COMMON, "core_entry", NULL, PL_NONE, "core-%u.img", NULL, NULL },
	{ "CPUINFO", 0x61404013, FORM_COMMON, "cpuinfo_entry", NULL, PL_NONE, "cpuinfo.img", NULL, NULL },
	{ "CREDS", 0x54023547, FORM_COMMON, "creds_entry", NULL, PL_NONE, "creds-%u.img", NULL, NULL },
	{ "EVENTFD_FILE", 0x44523722, FORM_COMMON, "eventfd_file_entry", NULL, PL_NONE, "eventfd.img", NULL, NULL },
	{ "EVENTPOLL_FILE", 0x45023858, FORM_COMMON, "eventpoll_file_entry", NULL, PL_NONE, "eventpoll.img", NULL, NULL },
	{ "EVENTPOLL_TFD", 0x44433746, FORM_COMMON, "eventpoll_tfd_entry", NULL, PL_NONE, "eventpoll-tfd.img", NULL, NULL },
	{ "EXT_FILES", 0x59255641, FORM_COMMON, "ext_file_entry", NULL, PL_NONE, "ext-files.img", NULL, NULL },
	{ "FANOTIFY_FILE", 0x55096122, FORM_COMMON, "fanotify_file_entry", NULL, PL_NONE, "fanotify.img", NULL, NULL },
	{ "FANOTIFY_MARK", 0x56506035, FORM_COMMON, "fanotify_mark_entry", NULL, PL_NONE, "fanotify-mark.img", NULL, NULL },
	{ "FDINFO", 0x56213732, FORM_COMMON, "fdinfo_entry", NULL, PL_NONE, "fdinfo-%u.img", NULL, NULL },
	{ "FIFO", 0x58364939, FORM_COMMON, "fifo_entry", NULL, PL_NONE, "fifo.img", NULL, NULL },
	{ "FIFO_DATA", 0x59333054, FORM_COMMON, "pipe_data_entry", NULL, PL_PIPE_DATA, "fifo-data.img", NULL, NULL },
	{ "FILES", 0x56303138, FORM_COMMON, "file_entry", NULL, PL_NONE, "files.img", NULL, NULL },
	{ "FILE_LOCKS", 0x54323616, FORM_COMMON, "file_lock_entry", NULL, PL_NONE, "filelocks.img", NULL, NULL },
	{ "FS", 0x51403912, FORM_COMMON, "fs_entry", NULL, PL_NONE, "fs-%u.img", NULL, NULL },
	{ "GHOST_FILE", 0x52583605, FORM_COMMON, "ghost_file_entry", "ghost_chunk_entry", PL_GHOST, "ghost-file-%x.img", NULL, NULL },
	{ "IDS", 0x54432030, FORM_COMMON, "task_kobj_ids_entry", NULL, PL_NONE, "ids-%u.img", NULL, NULL },
	{ "INETSK", 0x56443851, FORM_COMMON, "inet_sk_entry", NULL, PL_NONE, "inetsk.img", NULL, NULL },
	{ "INOTIFY_FILE", 0x48424431, FORM_COMMON, "inotify_file_entry", NULL, PL_NONE, "inotify.img", NULL, NULL },
	{ "INOTIFY_WD", 0x54562009, FORM_COMMON, "inotify_wd_entry", NULL, PL_NONE, "inotify-wd.img", NULL, NULL },
	{ "INVENTORY", 0x58313116, FORM_BARE, "inventory_entry", NULL, PL_NONE, "inventory.img", NULL, NULL },
	{ "IPCNS_MSG", 0x55453737, FORM_COMMON, "ipc_msg_entry", NULL, PL_IPC_MSG, "ipcns-msg-%u.img", NULL, NULL },
	{ "IPCNS_SEM", 0x59573019, FORM_COMMON, "ipc_sem_entry", NULL, PL_IPC_SEM, "ipcns-sem-%u.img", NULL, NULL },
	{ "IPCNS_SHM", 0x46283044, FORM_COMMON, "ipc_shm_entry", NULL, PL_IPC_SHM, "ipcns-shm-%u.img", NULL, NULL },
	{ "IPC_VAR", 0x53115007, FORM_COMMON, "ipc_var_entry", NULL, PL_NONE, "ipcns-var-%u.img", NULL, NULL },
	{ "IRMAP_CACHE", 0x57004059, FORM_SERVICE, "irmap_cache_entry", NULL, PL_NONE, "irmap-cache", NULL, NULL },
	{ "ITIMERS", 0x57464056, FORM_COMMON, "itimer_entry", NULL, PL_NONE, "itimers-%u.img", NULL, NULL },
	{ "MEMFD_INODE", 0x48453499, FORM_COMMON, "memfd_inode_entry", NULL, PL_NONE, "memfd.img", NULL, NULL },
	{ "MM", 0x57492820, FORM_COMMON, "mm_entry", NULL, PL_NONE, "mm-%u.img", NULL, NULL },
	{ "MNTS", 0x55563928, FORM_COMMON, "mnt_entry", NULL, PL_NONE, "mountpoints-%u.img", NULL, NULL },
	{ "NETDEV", 0x57373951, FORM_COMMON, "net_device_entry", NULL, PL_NONE, "netdev-%u.img", NULL, NULL },
	{ "NETLINK_SK", 0x58005614, FORM_COMMON, "netlink_sk_entry", NULL, PL_NONE, "netlinksk.img", NULL, NULL },
	{ "NETNS", 0x55933752, FORM_COMMON, "netns_entry", NULL, PL_NONE, "netns-%u.img", NULL, NULL },
	{ "NS_FILES", 0x61394011, FORM_COMMON, "ns_file_entry", NULL, PL_NONE, "ns-files.img", NULL, NULL },
	{ "PACKETSK", 0x60454618, FORM_COMMON, "packet_sock_entry", NULL, PL_NONE, "packetsk.img", NULL, NULL },
	{ "PAGEMAP", 0x56084025, FORM_COMMON, "pagemap_head", "pagemap_entry", PL_PAGEMAP, "pagemap-%lu.img pagemap-shmem-%lu.img", NULL, NULL },
	{ "PIDFD", 0x54435556, FORM_COMMON, "pidfd_entry", NULL, PL_NONE, "pidfd.img", NULL, NULL },
	{ "PIDNS", 0x61157326, FORM_COMMON, "pidns_entry", NULL, PL_NONE, "pidns-%u.img", NULL, NULL },
	{ "PIPES", 0x56513555, FORM_COMMON, "pipe_entry", NULL, PL_NONE, "pipes.img", NULL, NULL },
	{ "PIPES_DATA", 0x56453709, FORM_COMMON, "pipe_data_entry", NULL, PL_PIPE_DATA, "pipes-data.img", NULL, NULL },
	{ "POSIX_TIMERS", 0x52603957, FORM_COMMON, "posix_timer_entry", NULL, PL_NONE, "posix-timers-%u.img", NULL, NULL },
	{ "PSTREE", 0x50273030, FORM_COMMON, "pstree_entry", NULL, PL_NONE, "pstree.img", NULL, NULL },
	{ "REG_FILES", 0x50363636, FORM_COMMON, "reg_file_entry", NULL, PL_NONE, "reg-files.img", NULL, NULL },
	{ "REMAP_FPATH", 0x59133954, FORM_COMMON, "remap_file_path_entry", NULL, PL_NONE, "remap-fpath.img", NULL, NULL },
	{ "RLIMIT", 0x57113925, FORM_COMMON, "rlimit_entry", NULL, PL_NONE, "rlimit-%u.img", NULL, NULL },
	{ "SECCOMP", 0x64413049, FORM_COMMON, "seccomp_entry", NULL, PL_NONE, "seccomp.img", NULL, NULL },
	{ "SIGACT", 0x55344201, FORM_COMMON, "sa_entry", NULL, PL_NONE, "sigacts-%u.img", NULL, NULL },
	{ "SIGNAL", 0x59255647, FORM_COMMON, "siginfo_entry", NULL, PL_NONE, "signal-s-%u.img signal-p-%u.img", NULL, NULL },
	{ "SIGNALFD", 0x57323820, FORM_COMMON, "signalfd_entry", NULL, PL_NONE, "signalfd.img", NULL, NULL },
	{ "SK_QUEUES", 0x56264026, FORM_COMMON, "sk_packet_entry", NULL, PL_SK_QUEUE, "sk-queues.img", NULL, NULL },
	{ "STATS", 0x57093306, FORM_SERVICE, "stats_entry", NULL, PL_NONE, "stats-dump stats-restore", NULL, NULL },
	{ "TCP_STREAM", 0x51465506, FORM_COMMON, "tcp_stream_entry", NULL, PL_TCP_STREAM, "tcp-stream-%x.img", NULL, NULL },
	{ "TIMENS", 0x43114433, FORM_COMMON, "timens_entry", NULL, PL_NONE, "timens-%u.img", NULL, NULL },
	{ "TIMERFD", 0x50493712, FORM_COMMON, "timerfd_entry", NULL, PL_NONE, "timerfd.img", NULL, NULL },
	{ "TTY_DATA", 0x59413026, FORM_COMMON, "tty_data_entry", NULL, PL_NONE, "tty-data.img", NULL, NULL },
	{ "TTY_FILES", 0x59433025, FORM_COMMON, "tty_file_entry", NULL, PL_NONE, "tty.img", NULL, NULL },
	{ "TTY_INFO", 0x59453036, FORM_COMMON, "tty_info_entry", NULL, PL_NONE, "tty-info.img", NULL, NULL },
	{ "TUNFILE", 0x57143751, FORM_COMMON, "tunfile_entry", NULL, PL_NONE, "tunfile.img", NULL, NULL },
	{ "UNIXSK", 0x54373943, FORM_COMMON, "unix_sk_entry", NULL, PL_NONE, "unixsk.img", NULL, NULL },
	{ "USERNS", 0x55474906, FORM_COMMON, "userns_entry", NULL, PL_NONE, "userns-%u.img", NULL, NULL },
	{ "UTSNS", 0x54473203, FORM_COMMON, "utsns_entry", NULL, PL_NONE, "utsns-%u.img", NULL, NULL },
	{ "VMAS", 0x54123737, FORM_COMMON, "vma_entry", NULL, PL_NONE, "vmas-%u.img", NULL, NULL },
	{ NULL, 0, FORM_COMMON, NULL, NULL, PL_NONE, NULL, NULL, NULL },
};

/* Descriptors are looked up by name once, for every row at the first use,
 * so that threads reading the table never see it change; it is otherwise
 * constant. */
static pthread_once_t magic_once = PTHREAD_ONCE_INIT;

static void magic_resolve_all(void)
{
	for (struct magic_info *m = magic_table; m->name; m++) {
		m->desc = schema_message(m->message);
		if (m->message2)
			m->desc2 = schema_message(m->message2);
	}
}

static const struct magic_info *magic_resolve(const struct magic_info *mi)
{
	pthread_once(&magic_once, magic_resolve_all);
	return mi;
}

const struct magic_info *magic_by_value(uint32_t magic)
{
	for (const struct magic_info *mi = magic_table; mi->name; mi++)
		if (mi->magic == magic)
			return magic_resolve(mi);
	return NULL;
}

const struct magic_info *magic_by_name(const char *name)
{
	for (const struct magic_info *mi = magic_table; mi->name; mi++)
		if (strcmp(mi->name, name) == 0)
			return magic_resolve(mi);
	return NULL;
}
