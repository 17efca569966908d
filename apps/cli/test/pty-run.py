"""Runs a command in a pseudo-terminal, typing the given lines, and prints what the
terminal showed. Each line is typed after the next prompt (text ending in ': ') appears,
so nothing is typed while the terminal would still echo. Used by the keyway CLI tests to
check that prompts read without echo.
usage: pty-run.py 'line1|line2' program args..."""
import os, pty, sys, time, select

lines = sys.argv[1].split('|') if sys.argv[1] else []
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
out = b''
status = None
deadline = time.time() + 20


def pump(timeout):
    global out
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return True
    try:
        data = os.read(fd, 4096)
    except OSError:
        return False
    out += data
    return bool(data)


for index, line in enumerate(lines):
    while out.count(b': ') <= index and time.time() < deadline:
        if not pump(0.2):
            break
    time.sleep(0.1)
    os.write(fd, line.encode() + b'\r')
while time.time() < deadline:
    if not pump(0.2):
        break
    p, st = os.waitpid(pid, os.WNOHANG)
    if p:
        status = st
        while pump(0.05):
            if time.time() > deadline:
                break
        break
if status is None:
    _, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors='replace'))
sys.exit(os.waitstatus_to_exitcode(status))
