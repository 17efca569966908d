/**
 * Turns any error a command meets into one message that says what went wrong and what to
 * do next (docs/design.md §2, CLI: errors say what to do next). File system errors name
 * the path; permission refusals name the exact `chmod` to run; key format errors say
 * whether a passphrase is missing or wrong. Secrets never appear: messages are built from
 * paths and error codes only.
 */
import { CliError } from './command.js';
import { PromptCancelledError } from './prompt.js';

interface CodedError {
  code?: unknown;
  path?: unknown;
  syscall?: unknown;
  message: string;
}

function isCoded(error: unknown): error is CodedError {
  return error instanceof Error;
}

/** The `chmod` that fixes a permission refusal, judged from the refusal's text. */
function chmodAdvice(message: string): string {
  const unprotected = /UNPROTECTED PRIVATE KEY FILE: permissions \S+ for (.+?) are too open/.exec(
    message,
  );
  if (unprotected) return `run: chmod 600 '${unprotected[1]}'`;
  const directory = /for directory (.+?) of /.exec(message);
  if (directory) return `run: chmod go-w '${directory[1]}'`;
  const file = /^bad permissions \S+ for (.+?): writable/.exec(message);
  if (file) return `run: chmod go-w '${file[1]}'`;
  const passwords = /^(.+?) is writable by group or others/.exec(message);
  if (passwords) return `run: chmod 600 '${passwords[1]}'`;
  return 'fix the permissions (only you may write it; private keys only you may read)';
}

/**
 * The message for a failed command, one or two lines, without the `keyway:` prefix.
 * @param error - anything thrown.
 * @param path - the file the command was working on, when the error does not name one.
 */
export function explainError(error: unknown, path?: string): string {
  if (error instanceof CliError) return error.message;
  if (error instanceof PromptCancelledError) return `${error.message}; nothing was changed`;
  if (!isCoded(error)) return String(error);
  const where = typeof error.path === 'string' ? error.path : (path ?? 'file');
  switch (error.code) {
    case 'ENOENT':
      return `${where}: no such file or directory\n  check the path, or create it first`;
    case 'ENOTDIR':
      return `${where}: a component of this path is not a directory\n  choose a path inside a directory`;
    case 'EACCES':
    case 'EPERM':
      return `${where}: permission denied\n  check the permissions of the file and its directory (ls -ld)`;
    case 'EISDIR':
      return `${where}: is a directory\n  give the path of a file`;
    case 'EROFS':
      return `${where}: read-only file system\n  choose a writable location`;
    case 'ENOSPC':
      return `${where}: no space left on device`;
    case 'ECONNREFUSED':
      return `${error.message}: connection refused\n  check the host and port, and that the server is running`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${error.message}: host name not found\n  check the spelling of the host`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${error.message}: host unreachable\n  check the address and any firewall between`;
    case 'ERR_FILE_PERMISSIONS':
      return `${error.message}\n  ${chmodAdvice(error.message)}`;
    case 'ERR_KEY_FORMAT': {
      if (/incorrect passphrase/.test(error.message)) {
        return `${error.message}\n  wrong passphrase: try again (-P passphrase, or type it at the prompt)`;
      }
      if (/passphrase is required/.test(error.message)) {
        return `${error.message}\n  the key is encrypted: pass -P passphrase or $KEYWAY_PASSPHRASE, or run in a terminal to be asked`;
      }
      return `${error.message}\n  check that this is an OpenSSH ssh-ed25519 key (ssh-keygen -t ed25519 or keyway keygen)`;
    }
    case 'ERR_PASSWORD_FILE':
      return `${error.message}\n  use the host key the password file was made with (--host-key)`;
    default:
      return error.message;
  }
}
