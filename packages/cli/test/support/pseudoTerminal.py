"""Runs a command on a pseudo-terminal of a given size, as a person's terminal would.

    python3 pseudoTerminal.py COLUMNS ROWS [--discard] -- COMMAND ARGS...

Everything the command writes to the terminal (its stdout and stderr both) is copied to this script's
stdout as it arrives (or only counted with --discard). A byte read on this script's stdin is typed into the
terminal (b"\\x03" is Ctrl-C: the terminal sends SIGINT to the command). On stderr, one JSON line once the command
has started, {"pid"}, and one when it has exited and its output is drained: {"code", "signal", "maxRssKb",
"bytes", "millis"}.
"""
import json
import os
import pty
import resource
import select
import struct
import sys
import termios
import fcntl
import time


def main() -> None:
    columns, rows = int(sys.argv[1]), int(sys.argv[2])
    rest = sys.argv[3:]
    discard = "--discard" in rest[: rest.index("--")]
    command = rest[rest.index("--") + 1:]
    started = time.monotonic()
    pid, master = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    sys.stderr.write(json.dumps({"pid": pid}) + "\n")
    sys.stderr.flush()
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    out = sys.stdout.buffer
    stdin = sys.stdin.fileno()
    watched = [master, stdin]
    total = 0
    while True:
        ready, _, _ = select.select(watched, [], [])
        if stdin in ready:
            typed = os.read(stdin, 1024)
            if typed:
                os.write(master, typed)
            else:
                watched.remove(stdin)
        if master in ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the command and every process holding the terminal are gone
                chunk = b""
            if not chunk:
                break
            total += len(chunk)
            if not discard:
                try:
                    out.write(chunk)
                    out.flush()
                except BrokenPipeError:  # the reader went away: keep draining the terminal
                    discard = True
    _, status = os.waitpid(pid, 0)
    millis = (time.monotonic() - started) * 1000
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    signal = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    max_rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    sys.stderr.write(json.dumps({"code": code, "signal": signal, "maxRssKb": max_rss_kb, "bytes": total, "millis": millis}) + "\n")


main()
