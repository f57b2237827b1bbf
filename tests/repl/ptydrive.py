"""ptydrive.py: run a program on a pseudo-terminal, type keys into it and wait
for what it prints, as a person at the keyboard would (tests/repl/terminal.py)."""
import fcntl
import os
import pty
import re
import select
import struct
import termios
import time

ESCAPES = re.compile(rb"\x1b(\[[0-9;?]*[A-Za-z]|[=>])")


class Session:
    def __init__(self, argv, env, rows=40, cols=200):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.out = b""
        self.pos = 0  # where the next expect starts looking
        self.status = None

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the program closed the terminal (it ended)
            data = b""
        if not data:
            return None
        self.out += data
        return True

    def send(self, keys):
        os.write(self.fd, keys.encode() if isinstance(keys, str) else keys)

    def text(self):
        """What the terminal showed, without carriage returns and escape
        sequences (bracketed paste, cursor moves)."""
        return ESCAPES.sub(b"", self.out.replace(b"\r", b""))

    def expect(self, pattern, timeout=10):
        """Wait until the output past the last match matches pattern (a regex
        over bytes, on text()); return the match."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        end = time.monotonic() + timeout
        while True:
            text = self.text()
            m = rx.search(text, self.pos)
            if m:
                self.pos = m.end()
                return m
            left = end - time.monotonic()
            if left <= 0 or self._read(left) is None:
                raise AssertionError("expected %r; the terminal shows (from the last match):\n%s"
                                     % (pattern, text[self.pos:].decode(errors="replace")))

    def wait(self, timeout=10):
        """Wait for the program to end; its exit status."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(st)
                return self.status
            self._read(0.1)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        raise AssertionError("the program did not end; the terminal shows:\n"
                             + self.out[self.pos:].decode(errors="replace"))

    def close(self):
        if self.status is None:
            try:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
        os.close(self.fd)
