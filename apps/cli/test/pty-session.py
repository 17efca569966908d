"""Drives a command in a pseudo-terminal by a script, and prints what the terminal showed.
The script is a JSON list of steps, run in order:
  {"expect": "text"}   wait until "text" appears in the output after the previous match
  {"send": "text"}     type text (\\r is Enter, \\u0003 is Ctrl-C)
  {"sleep": seconds}   wait
An expect that is not met within 20 s kills the command and exits 124, with the output
so far and a line naming the step. After the script, waits up to 20 s for the command
to exit and exits with its status (124 if it does not exit).
usage: pty-session.py SCRIPT_JSON program args..."""
import json, os, pty, select, signal, sys, time

script = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
out = b''
seen = 0  # output before this offset was consumed by an earlier expect


def pump(timeout):
    """Reads what is there within timeout; False at end of output."""
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


def finish(code, note=''):
    sys.stdout.write(out.decode(errors='replace') + note)
    sys.exit(code)


def give_up(note):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    finish(124, '\n[pty-session: %s]\n' % note)


for index, step in enumerate(script):
    if 'expect' in step:
        want = step['expect'].encode()
        deadline = time.time() + step.get('timeout', 20)
        while out.find(want, seen) == -1:
            if time.time() > deadline or not pump(0.1):
                give_up('step %d: %r not seen' % (index, step['expect']))
        seen = out.find(want, seen) + len(want)
    elif 'send' in step:
        os.write(fd, step['send'].encode())
    elif 'sleep' in step:
        end = time.time() + step['sleep']
        while time.time() < end:
            pump(0.05)

deadline = time.time() + 20
while time.time() < deadline:
    alive = pump(0.1)
    p, status = os.waitpid(pid, os.WNOHANG)
    if p:
        while pump(0.05) and time.time() < deadline:
            pass
        finish(os.waitstatus_to_exitcode(status))
    if not alive:
        _, status = os.waitpid(pid, 0)
        finish(os.waitstatus_to_exitcode(status))
give_up('the command did not exit')
