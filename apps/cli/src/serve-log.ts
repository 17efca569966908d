/**
 * The log `keyway serve` writes on stderr: one line per event (a login or a refusal with
 * its reason, a connection turned away, a signal, the drain), as text for a person or,
 * with `--log-format json`, one JSON object per line for a log collector (debug events,
 * `KEYWAY_DEBUG=1`, then come as JSON lines too: `KEYWAY_DEBUG_FORMAT=json`).
 */
import type { AuthLogEvent } from 'keyway-rpc';

/** How log lines are written. */
export type LogFormat = 'text' | 'json';

/** The log formats `--log-format` accepts. */
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

/** Writes `keyway serve`'s events on one output. */
export class ServeLog {
  readonly #write: (line: string) => void;
  readonly #format: LogFormat;
  readonly #quiet: boolean;

  /**
   * @param write receives whole lines, each ending in a newline
   * @param format `text` or `json`
   * @param quiet leave out logins (refusals and everything else are still written)
   */
  constructor(write: (line: string) => void, format: LogFormat, quiet: boolean) {
    this.#write = write;
    this.#format = format;
    this.#quiet = quiet;
  }

  /** Writes one event: `text` for people, `fields` (with `event` and `level`) for JSON. */
  event(
    event: string,
    fields: Readonly<Record<string, unknown>>,
    text: string,
    level: 'info' | 'warn' | 'error' = 'info',
  ): void {
    if (this.#format === 'json') {
      this.#write(
        `${JSON.stringify({ time: new Date().toISOString(), level, event, ...fields })}\n`,
      );
    } else if (text !== '') {
      // An event with no text is for collectors only (the banner already said it).
      this.#write(`${text}\n`);
    }
  }

  /** One authentication attempt, with the key or user and the precise reason. */
  auth(event: AuthLogEvent): void {
    if (this.#quiet && event.outcome === 'success') return;
    const who = event.user ?? event.fingerprint;
    this.event(
      'auth',
      { ...event },
      `${event.outcome === 'success' ? 'login' : 'refused'} ${event.method} from ${event.remoteAddress}${who === undefined ? '' : ` (${who})`}: ${event.reason}`,
      event.outcome === 'success' ? 'info' : 'warn',
    );
  }
}
