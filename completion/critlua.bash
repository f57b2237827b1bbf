# bash completion for critlua(1)
#
# The commands and their options are read from critlua itself at completion
# time: `critlua help` lists the commands (the built-in ones, and the user
# scripts of -I DIR and CRITLUA_PATH), `critlua help COMMAND` gives a
# command's usage line and option lines. What no help text can say is kept
# here: which arguments are image files, checkpoint directories, x views,
# pids, and the values of --proto and --only.

# _critlua_run ARGS...: the critlua being completed, with the -I options
# typed before the command; stderr and failures are ignored.
_critlua_run()
{
	"${_critlua_cmd[@]}" "$@" 2>/dev/null
}

# The command names, one per line.
_critlua_commands()
{
	_critlua_run help | sed -n '/^Commands:/,/^$/{s/^  \([^ ][^ ]*\) .*/\1/p}'
}

# The options of COMMAND, one per line: those of its usage line, and those
# opening a line of its help text.
_critlua_options()
{
	_critlua_run help "$1" | sed -n \
		-e '/^usage:/{s/[][|,]/ /g;s/ /\n/g;p}' \
		-e '/^ *-/{s/^ *\(-[-a-zA-Z0-9]*\(, *-[-a-zA-Z0-9]*\)*\).*/\1/;s/,/\n/g;p}' |
		sed -n 's/^ *\(--*[a-zA-Z][-a-zA-Z0-9]*\).*/\1/p' | sort -u
}

# The options of COMMAND's usage line that take a value ("-i IN",
# "--context N", "--proto tcp|udp", "--only=KIND"), one per line.
_critlua_value_options()
{
	_critlua_run help "$1" | sed -n '/^usage:/{s/[][|]/ /g;s/=/ /g;p}' |
		tr -s ' ' '\n' | awk '/^--?[a-zA-Z]/ { opt = $0; next }
			opt != "" && /^[a-zA-Z]/ { print opt } { opt = "" }' | sort -u
}

_critlua_files()
{ # _critlua_files PATTERN: files matching PATTERN, and directories
	local IFS=$'\n'
	compopt -o filenames 2>/dev/null
	COMPREPLY+=($(compgen -f -X "!$1" -- "$cur") $(compgen -d -- "$cur"))
}

_critlua_dirs()
{
	local IFS=$'\n'
	compopt -o filenames 2>/dev/null
	COMPREPLY+=($(compgen -d -- "$cur"))
}

_critlua()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	local -a _critlua_cmd=("${COMP_WORDS[0]}")
	COMPREPLY=()

	# critlua's own options, up to the command
	local i=1 cmd= w interactive=
	while ((i < COMP_CWORD)); do
		w=${COMP_WORDS[i]}
		case $w in
		-I | --scripts)
			((i + 1 < COMP_CWORD)) && _critlua_cmd+=(-I "${COMP_WORDS[i + 1]}")
			((i += 2)) ;;
		-I?*) _critlua_cmd+=("$w"); ((i++)) ;;
		-e) ((i += 2)); cmd=-e; break ;;
		-i | --interactive) interactive=1; ((i++)) ;;
		--) ((i++)); break ;;
		-*) ((i++)) ;;
		*) break ;;
		esac
	done
	# -i [DIR|ARCHIVE]: one checkpoint, a directory or a .tar[.gz|.zst]
	if [[ -n $interactive && $cmd != -e && $cur != -* ]]; then
		((i >= COMP_CWORD)) && _critlua_files '*.tar*'
		return
	fi
	if ((i >= COMP_CWORD)) && [[ $cmd != -e ]]; then
		case $prev in
		-I | --scripts) _critlua_dirs; return ;;
		-e) return ;;
		esac
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W '-e -i --interactive -I --scripts -d --debug -q --quiet -h --help -v --version' -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_critlua_commands)" -- "$cur"))
			_critlua_files '*.lua'
		fi
		return
	fi
	[[ $cmd == -e ]] && { _critlua_files '*'; return; }
	cmd=${COMP_WORDS[i]}
	((i++))

	# a script file: its arguments are its own
	if [[ $cmd == */* || $cmd == *.lua ]]; then
		_critlua_files '*'
		return
	fi

	# the positional arguments before this one
	local valopts
	valopts=$(_critlua_value_options "$cmd")
	local -a pos=()
	while ((i < COMP_CWORD)); do
		w=${COMP_WORDS[i]}
		if [[ $w == -* ]]; then
			grep -qxF -- "$w" <<<"$valopts" && ((i++))
		else
			pos+=("$w")
		fi
		((i++))
	done
	local n=${#pos[@]}

	# the value of an option
	if [[ $prev == -* ]] && grep -qxF -- "$prev" <<<"$valopts"; then
		case $cmd:$prev in
		decode:-i | decode:--in) _critlua_files '*.img' ;;
		encode:-i | encode:--in) _critlua_files '*.json' ;;
		*:-o | *:--out) _critlua_files '*' ;;
		*:--proto) COMPREPLY=($(compgen -W 'tcp udp' -- "$cur")) ;;
		*:--only) COMPREPLY=($(compgen -W 'files unix mounts cgroups' -- "$cur")) ;;
		*:--pid) _critlua_pids ;;
		*:--kind) COMPREPLY=($(compgen -W 'heap stack anon file shmem sysvipc vdso vvar vsyscall growsdown aioring packet' -- "$cur")) ;;
		esac
		return
	fi
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_critlua_options "$cmd")" -- "$cur"))
		return
	fi

	case $cmd in
	help) ((n == 0)) && COMPREPLY=($(compgen -W "$(_critlua_commands)" -- "$cur")) ;;
	info | show) ((n == 0)) && _critlua_files '*.img' ;;
	decode | encode) ;;
	x)
		case $n in
		0) _critlua_dirs ;;
		1) COMPREPLY=($(compgen -W 'ps fds mems rss sk' -- "$cur")) ;;
		esac ;;
	mem | coredump)
		case $n in
		0) _critlua_dirs ;;
		1) _critlua_pids ;;
		esac ;;
	stats | check | grep | rewrite-*) ((n == 0)) && _critlua_dirs ;;
	*) _critlua_files '*' ;; # a user command: anything
	esac
}

# The pids of the checkpoint directory given first (from its core-PID.img).
_critlua_pids()
{
	local dir=${pos[0]} f
	[[ -d $dir ]] || return
	for f in "$dir"/core-*.img; do
		[[ -e $f ]] || continue
		f=${f##*/core-}
		COMPREPLY+=($(compgen -W "${f%.img}" -- "$cur"))
	done
}

complete -F _critlua critlua
