"""terminal.py CRITLUA FIXTURES: `critlua -i` on a pseudo-terminal, typed into as a
person would (tests/repl/ptydrive.py): completion, history in a session and
from the history file, errors that do not end the session, a function typed
over several lines, the printing of ck:ps(), Ctrl-C and Ctrl-D. Each check
waits for what the terminal must show, so a broken feature fails it (or its
10-second wait). Exit 0 when all pass, 1 otherwise, 77 (skipped) when critlua
was built without readline."""
import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ptydrive  # noqa: E402

CRITLUA, FIXTURES = sys.argv[1], sys.argv[2]
SLEEP = os.path.join(FIXTURES, "sleep")
TMP = tempfile.mkdtemp(prefix="critlua-repl-")
atexit.register(shutil.rmtree, TMP, ignore_errors=True)
HIST = os.path.join(TMP, "history")

built = subprocess.run([CRITLUA, "-e", "print(require('critlua').readline.available)"],
                       capture_output=True, text=True)
if built.stdout.strip() != "true":
    print("SKIPPED: critlua was built without readline (libreadline-dev): no line editing to test")
    sys.exit(77)


def session(args=("-i", SLEEP), **env):
    e = {k: v for k, v in os.environ.items() if k not in ("CRITLUA_HISTORY", "XDG_STATE_HOME")}
    # a plain terminal, no user's ~/.inputrc, the history in the test's directory
    e.update(TERM="xterm", INPUTRC="/dev/null", HOME=TMP, CRITLUA_HISTORY=HIST)
    for k, v in env.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    s = ptydrive.Session([CRITLUA] + list(args), e)
    s.expect(r"\n> $")  # the banner, then the prompt
    return s


def line(s, text):
    """Type a line, wait for its echo, press Enter."""
    s.send(text)
    s.expect(re.escape(text))
    s.send("\r")


UP = "\x1b[A"


def completion_of_a_field_name():
    s = session()
    s.send('ck:image("pstree.img").entries[1].pg\t')
    s.expect(r'entries\[1\]\.pgid$')  # completed in place
    s.send("\r")
    s.expect(r"\n23744\n> $")
    s.close()


def completion_of_globals_keys_methods():
    s = session()
    s.send("cri\t")                  # a global
    s.expect(r"crit$")
    s.send(".json.enc\t")            # table keys after '.'
    s.expect(r"\.json\.encode$")
    s.send("\x15")                   # Ctrl-U: clear the line
    s.send("ck:mem\t\t")             # checkpoint methods after ':' (two: list them)
    s.expect(r"memory\s+memory_diff\s+memory_location\s+memory_map\s+memory_summary\s+mems\s")
    s.send("\x15")
    s.send("ck:image('core-23744.img').entries[1].tc.com\t")  # a nested message
    s.expect(r"tc\.comm$")
    s.send("\r")
    s.expect(r"\nsleep\n> $")
    s.send("\x15")
    s.send('#ck:image("pst\t')       # a file of the checkpoint, in the string
    s.expect(r'ck:image\("pstree\.img"$')  # readline closes the string of a single match
    s.send(').entries\r')
    s.expect(r"\n1\n> $")
    s.send(":he\t")                  # the REPL's commands
    s.expect(r":help$")
    s.send("\r")
    s.expect(r"ck:ps\(\)")
    s.close()


def history_in_a_session():
    s = session()
    line(s, '"hist" .. "ory"')
    s.expect(r"\nhistory\n> $")
    line(s, "=1")
    s.expect(r"\n1\n> $")
    s.send(UP + UP)                  # two lines back
    s.expect(r'"hist" \.\. "ory"$')
    s.send("\r")
    s.expect(r"\nhistory\n> $")
    s.close()


def history_from_the_file():
    if os.path.exists(HIST):
        os.unlink(HIST)
    s = session()
    line(s, "=6 * 7")
    s.expect(r"\n42\n> $")
    line(s, "function twice(n)")
    line(s, "  return 2 * n")
    line(s, "end")
    s.expect(r"\n> $")
    s.send("\x04")                   # Ctrl-D leaves
    assert s.wait() == 0, "Ctrl-D: exit status %s" % s.status
    s.close()
    with open(HIST) as f:
        saved = f.read()
    assert "=6 * 7" in saved, "the history file lacks the line typed: %r" % saved
    assert os.stat(HIST).st_mode & 0o077 == 0, "the history file is readable by others"
    s = session()
    s.send(UP + UP)                  # the function, then the line before it, from the file
    s.expect(r"=6 \* 7")
    s.send("\r")
    s.expect(r"\n42\n> $")
    s.send(UP + UP)                  # the function is one entry, whole
    s.expect(r"function twice\(n\)\n  return 2 \* n\nend")
    s.send("\r")
    line(s, "=twice(21)")
    s.expect(r"\n42\n> $")
    s.close()


def history_default_place_and_bound():
    # no CRITLUA_HISTORY: $XDG_STATE_HOME/critlua_history, else ~/.critlua_history
    state = os.path.join(TMP, "state")
    os.makedirs(state, exist_ok=True)
    s = session(CRITLUA_HISTORY=None, XDG_STATE_HOME=state)
    line(s, "=101")
    s.expect(r"\n101\n> $")
    s.close()
    assert "=101" in open(os.path.join(state, "critlua_history")).read()
    s = session(CRITLUA_HISTORY=None, XDG_STATE_HOME=None)
    line(s, "=102")
    s.expect(r"\n102\n> $")
    s.close()
    assert "=102" in open(os.path.join(TMP, ".critlua_history")).read()
    # bounded: a file of 1500 entries is cut to the last 1000 at the next line
    big = os.path.join(TMP, "big")
    with open(big, "w") as f:
        for i in range(1500):
            f.write("#%d\n=%d\n" % (1700000000 + i, i))
    s = session(CRITLUA_HISTORY=big)
    line(s, "=103")
    s.expect(r"\n103\n> $")
    s.close()
    lines = [x for x in open(big).read().splitlines() if not x.startswith("#")]
    assert len(lines) == 1000 and lines[-1] == "=103" and lines[0] == "=501", \
        "history bound: %d entries, first %r, last %r" % (len(lines), lines[0], lines[-1])


def errors_do_not_end_the_session():
    s = session()
    line(s, 'error("boom")')
    s.expect(r"stdin:1: boom\n> $")
    line(s, "ck:image('pstree.img').entries[1].pgidx")
    s.expect(r"no field 'pgidx' in pstree_entry.*\n> $")
    line(s, "x = = 1")
    s.expect(r"stdin:1: unexpected symbol near '='\n> $")
    line(s, ":nosuch")
    s.expect(r"unknown command ':nosuch'.*\n> $")
    line(s, "=1 + 1")
    s.expect(r"\n2\n> $")
    s.close()


def multi_line_function():
    s = session()
    line(s, "function fact(n)")
    s.expect(r"\n>> $")              # the continuation prompt
    line(s, "  if n <= 1 then return 1 end")
    s.expect(r"\n>> $")
    line(s, "  return n * fact(n - 1)")
    s.expect(r"\n>> $")
    line(s, "end")
    s.expect(r"\n> $")
    line(s, "=fact(10)")
    s.expect(r"\n3628800\n> $")
    s.close()


def printing():
    s = session()
    line(s, "ck:ps()")               # a list of records: a table
    s.expect(r"\n#\s+pid\s+ppid\s+pgid\s+sid\s.*comm\n1\s+23744\s+0\s+23744\s+23744\s.*sleep\n")
    line(s, "print(ck:ps())")        # print as scripts do
    s.expect(r"\ntable: 0x[0-9a-f]+\ttable: 0x[0-9a-f]+\n> $")
    line(s, 'ck:image("pstree.img").entries[1]')  # a message: compact JSON
    s.expect(r'\n\{"pid": 23744, "ppid": 0, "pgid": 23744, "sid": 23744, "threads": \[23744\]\}\n> $')
    line(s, '1, "two", nil')         # several results
    s.expect(r"\n1\ttwo\tnil\n> $")
    s.close()


def ctrl_c():
    s = session()
    s.send("=1 +")
    s.expect(r"=1 \+$")
    s.send("\x03")                   # cancels the line
    s.expect(r"\^C\n> $")
    line(s, "function f()")
    s.expect(r"\n>> $")
    s.send("\x03")                   # cancels the unfinished chunk
    s.expect(r"\n> $")
    line(s, "=2 + 2")
    s.expect(r"\n4\n> $")
    line(s, "while true do end")
    s.expect(r"\n")                  # accepted: running
    for _ in range(20):              # Ctrl-C stops running code (again, should the
        s.send("\x03")               # first come before the loop started)
        try:
            s.expect(r"interrupted!\n> $", timeout=0.5)
            break
        except AssertionError:
            pass
    else:
        raise AssertionError("Ctrl-C did not stop 'while true do end'")
    line(s, ":q")
    assert s.wait() == 0, ":q: exit status %s" % s.status
    s.close()


def no_checkpoint():
    s = session(args=("-i",))
    line(s, "=ck == nil and crit.version ~= nil")
    s.expect(r"\ntrue\n> $")
    s.close()


TESTS = [completion_of_a_field_name, completion_of_globals_keys_methods, history_in_a_session,
         history_from_the_file, history_default_place_and_bound, errors_do_not_end_the_session,
         multi_line_function, printing, ctrl_c, no_checkpoint]

failed = 0
for t in TESTS:
    try:
        t()
        print("PASS", t.__name__)
    except Exception as e:  # an assertion, or a file the session should have written
        failed += 1
        print("FAIL", t.__name__ + ":", e)
sys.exit(1 if failed else 0)
