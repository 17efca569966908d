/**
 * Reading secrets from the user (docs/design.md §2, CLI: the password is read without echo). On a
 * terminal the input is read in raw mode so nothing is echoed; otherwise the first line of
 * standard input is taken. Secrets are never written anywhere.
 */

/** The user ended the prompt (Ctrl-C, Ctrl-D) or standard input closed early. */
export class PromptCancelledError extends Error {
  /** Stable code. */
  readonly code = 'ERR_PROMPT_CANCELLED';
  constructor(message = 'input cancelled') {
    super(message);
    this.name = 'PromptCancelledError';
  }
}

/** Longest secret accepted from a terminal or a pipe; a guard against a runaway pipe. */
const MAX_SECRET_CHARS = 4096;

/** Keys typed after the Enter that ended one prompt, for the next prompt. */
let typedAhead = '';

/** Whether standard input is a terminal (so a prompt can be shown). */
export function stdinIsTerminal(): boolean {
  return process.stdin.isTTY === true;
}

/**
 * Reads one line from the terminal without echoing it. The prompt goes to stderr so that
 * stdout stays clean for pipes.
 * @param prompt - text shown before the input, e.g. `Enter passphrase: `.
 * @returns the line typed, without its end of line.
 * @throws {PromptCancelledError} on Ctrl-C, Ctrl-D at the start, or a closed terminal.
 */
export function readHidden(prompt: string): Promise<string> {
  const input = process.stdin;
  if (input.isTTY !== true || typeof input.setRawMode !== 'function') {
    return Promise.reject(new PromptCancelledError('standard input is not a terminal'));
  }
  return new Promise<string>((resolve, reject) => {
    let text = '';
    const finish = (error?: Error): void => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(text);
    };
    const onEnd = (): void => finish(new PromptCancelledError('terminal closed'));
    // One key press: 'done' at end of line, an error to cancel, undefined to go on.
    const step = (char: string): 'done' | Error | undefined => {
      if (char === '\r' || char === '\n') return 'done';
      if (char === '\u0003') return new PromptCancelledError('interrupted');
      if (char === '\u0004') return text === '' ? new PromptCancelledError() : undefined;
      if (char === '\u007f' || char === '\b') {
        text = Array.from(text).slice(0, -1).join('');
      } else if (char === '\u0015') {
        // Ctrl-U clears the line, as in a cooked terminal.
        text = '';
      } else if (text.length >= MAX_SECRET_CHARS) {
        return new PromptCancelledError('input too long');
      } else {
        text += char;
      }
      return undefined;
    };
    // Returns true when the prompt finished; keys typed after Enter wait for the next one.
    const feed = (chars: string): boolean => {
      const list = Array.from(chars);
      for (const [index, char] of list.entries()) {
        const outcome = step(char);
        if (outcome === undefined) continue;
        // A terminal may send Enter as \r\n; the \n is not the next prompt's answer.
        const skip = char === '\r' && list[index + 1] === '\n' ? 2 : 1;
        typedAhead = list.slice(index + skip).join('');
        finish(outcome === 'done' ? undefined : outcome);
        return true;
      }
      return false;
    };
    const onData = (chunk: Buffer | string): void => {
      feed(String(chunk));
    };
    const ahead = typedAhead;
    typedAhead = '';
    input.setEncoding('utf8');
    input.setRawMode(true);
    // Shown only once echo is off: keys typed as soon as the prompt appears stay hidden.
    process.stderr.write(prompt);
    input.on('data', onData);
    input.on('end', onEnd);
    if (feed(ahead)) return;
    input.resume();
  });
}

/**
 * Reads a new secret twice without echo and checks both entries agree.
 * @returns the secret.
 * @throws {PromptCancelledError} when cancelled or when the two entries differ.
 */
export async function readNewSecret(first: string, again: string): Promise<string> {
  const one = await readHidden(first);
  const two = await readHidden(again);
  if (one !== two) throw new PromptCancelledError('the two entries do not match');
  return one;
}

/**
 * Reads all of standard input (a pipe or a file), up to `limit` bytes.
 * @throws {RangeError} when the input is larger than `limit`.
 */
export async function readStdin(limit = 16 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > limit) throw new RangeError(`standard input is larger than ${limit} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Reads one secret line from a non-terminal standard input: the first line, without its
 * end of line. An empty input is refused.
 * @throws {PromptCancelledError} when standard input is empty.
 */
export async function readSecretLine(): Promise<string> {
  const text = await readStdin(64 * 1024);
  const newline = text.search(/\r?\n/);
  const line = newline === -1 ? text : text.slice(0, newline);
  if (line === '') throw new PromptCancelledError('no input on standard input');
  return line;
}
