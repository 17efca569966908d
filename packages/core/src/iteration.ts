/**
 * Remote iteration (docs/design.md §3 "Iteration"): the owner pulls items out of a local
 * iterator in batches for the peer; the caller turns batches back into an async iterator
 * for `for await`. Breaking out of the loop releases the handle, which closes the source.
 */
import { Operation } from './access-gate.js';
import { ProtocolError } from './errors.js';
import type { Session } from './session.js';
import { type Stub, type StubState, stubStateOf } from './stub.js';

/** Pulls batches out of a local iterator for the peer; disposed when released. */
export class IteratorHandle {
  readonly #iterator: Iterator<unknown> | AsyncIterator<unknown>;
  #done = false;

  constructor(iterator: Iterator<unknown> | AsyncIterator<unknown>) {
    this.#iterator = iterator;
  }

  // The handle is exported to the peer by reference; `_` names are never exposed by the
  // gate, so only the iterate and dispose operations (which clamp the batch) reach these.
  async _pull(max: number): Promise<{ items: unknown[]; done: boolean }> {
    const items: unknown[] = [];
    const started = Date.now();
    while (!this.#done && items.length < max) {
      let step = this.#iterator.next();
      if (step instanceof Promise) {
        step = await step;
        // A slow source should not hold back items that are ready.
        if (items.length > 0 && Date.now() - started > 10) {
          if (step.done === true) this.#done = true;
          else items.push(step.value);
          break;
        }
      }
      const result = step as IteratorResult<unknown>;
      if (result.done === true) this.#done = true;
      else items.push(result.value);
    }
    return { items, done: this.#done };
  }

  _close(): unknown {
    if (this.#done) return undefined;
    this.#done = true;
    return this.#iterator.return?.();
  }
}

export function isIteratorHandle(value: unknown): value is IteratorHandle {
  return value instanceof IteratorHandle;
}

/** The batch size a peer asked for, bounded by ours. */
export function clampBatch(raw: unknown, max: number): number {
  return typeof raw === 'number' && Number.isInteger(raw) && raw >= 1 ? Math.min(raw, max) : max;
}

/** Iterates a remote iterable through `session`, a batch per request. */
export async function* remoteIterator(
  session: Session,
  state: StubState,
  batch: number,
): AsyncGenerator<unknown, void, undefined> {
  let handle: Stub | undefined;
  try {
    let record = (await session.request(state, Operation.Iterate, [batch]).promise()) as {
      items?: unknown;
      done?: unknown;
      handle?: unknown;
    };
    const h = stubStateOf(record.handle);
    handle = h?.proxy;
    while (true) {
      if (!Array.isArray(record.items)) throw new ProtocolError('malformed iteration batch');
      for (const item of record.items) yield item;
      if (record.done === true || h === undefined) return;
      record = (await session.request(h, Operation.Iterate, [batch]).promise()) as typeof record;
    }
  } finally {
    const h = stubStateOf(handle);
    if (h !== undefined) h.host.release(h);
  }
}
