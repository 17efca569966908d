/**
 * Asking the peer (docs/protocol.md §3, §5, §8):
 * the question table of one session. It sends our requests (pipelined on calls still in
 * flight), matches the peer's replies to them, cancels them by abort signal or deadline,
 * and follows the result of a call that already arrived locally instead of asking again.
 */
import { Operation } from './access-gate.js';
import {
  AccessDeniedError,
  ConnectionClosedError,
  LimitExceededError,
  ProtocolError,
  TimeoutError,
} from './errors.js';
import type { ExportTable } from './export-table.js';
import type { Housekeeping } from './housekeeping.js';
import { IdTable } from './id-table.js';
import {
  MSG_CANCEL,
  MSG_REQUEST,
  MSG_RESOLVE,
  TARGET_ANSWER,
  TARGET_EXPORT,
} from './message-kinds.js';
import { errorFromWire, fromWire, resultFromWire, toWire } from './serialize.js';
import type { Session, SessionIO, SessionSettings } from './session.js';
import { type CallOptions, Question, STUB_ANSWER, type StubState, stubStateOf } from './stub.js';

/** The path of a reference to a whole object (shared, never written). */
export const EMPTY_PATH: readonly string[] = Object.freeze([]);

/** Our requests to the peer that await a reply, and the deadline timer they need. */
export class Asking {
  readonly #session: Session;
  readonly #io: SessionIO;
  readonly #settings: SessionSettings;
  readonly #exports: ExportTable;
  readonly #housekeeping: Housekeeping;
  // Made with the first request: a server seldom calls its clients.
  #questions: IdTable<Question> | undefined;
  #nextQid = 1;
  #armedDeadline = Number.POSITIVE_INFINITY;

  constructor(
    session: Session,
    io: SessionIO,
    settings: SessionSettings,
    exports: ExportTable,
    housekeeping: Housekeeping,
  ) {
    this.#session = session;
    this.#io = io;
    this.#settings = settings;
    this.#exports = exports;
    this.#housekeeping = housekeeping;
  }

  /** Requests awaiting their reply. */
  get pending(): number {
    return this.#questions?.size ?? 0;
  }

  /** Gives back the room of the question table when none is pending (a quiet moment). */
  compact(): void {
    this.#questions?.compact();
  }

  /** Requests sent so far. */
  get sent(): number {
    return this.#nextQid - 1;
  }

  /** Sends a request on behalf of a stub of this session; returns the question. */
  request(
    state: StubState,
    op: Operation,
    args: readonly unknown[] | null,
    path?: readonly string[],
  ): Question {
    const options = state.options;
    if (this.#session.closed) return failed(this.#session.closedError());
    if (state.released) return failed(new ConnectionClosedError('the stub was released'));
    let targetKind = TARGET_EXPORT;
    let targetId = state.id;
    const fullPath = path ?? state.path;
    if (state.kind === STUB_ANSWER) {
      const q = state.question!;
      if (q.settled) return requestOnSettled(q, op, args, fullPath, options);
      targetKind = TARGET_ANSWER;
      targetId = q.qid;
    }
    if (options?.signal?.aborted === true) return failed(options.signal.reason);
    if (this.pending >= this.#settings.maxPendingCalls)
      return failed(
        new LimitExceededError(`more than ${this.#settings.maxPendingCalls} calls pending`),
      );
    const qid = this.#nextQid++;
    const holder = state.base ?? state;
    const question = new Question(qid, holder);
    let wireArgs: unknown[] | null = null;
    this.#exports.begin();
    try {
      if (args !== null) {
        wireArgs = new Array(args.length);
        for (let i = 0; i < args.length; i++)
          wireArgs[i] = toWire(args[i], this.#session, this.#settings.maxDepth - 3);
      }
    } catch (error) {
      this.#exports.rollback();
      question.settle(false, error);
      return question;
    }
    const timeout = options?.timeout ?? this.#settings.timeout;
    const wirePath = fullPath.length === 0 ? null : fullPath;
    const housekeeping = this.#housekeeping;
    // What waits to be told to the peer rides along as the last two fields; the array is
    // made at its final length (growing it by two would copy it).
    const message: unknown[] = housekeeping.queued
      ? [
          MSG_REQUEST,
          qid,
          op,
          targetKind,
          targetId,
          wirePath,
          wireArgs,
          timeout,
          housekeeping.takeFinishes(),
          housekeeping.takeReleases(),
        ]
      : [MSG_REQUEST, qid, op, targetKind, targetId, wirePath, wireArgs, timeout];
    this.#questions ??= new IdTable();
    this.#questions.set(qid, question);
    holder.inflight++;
    if (timeout > 0 && Number.isFinite(timeout)) {
      question.deadline = this.#io.now() + timeout;
      if (question.deadline < this.#armedDeadline) {
        this.#armedDeadline = question.deadline;
        this.#io.armTimer(question.deadline);
      }
    }
    const signal = options?.signal;
    if (signal !== undefined) {
      const onAbort = () => this.#cancel(question, signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      question.abortCleanup = () => signal.removeEventListener('abort', onAbort);
    }
    try {
      this.#session.send(message);
      this.#exports.commit();
    } catch (error) {
      this.#exports.rollback();
      // The housekeeping that was to ride along waits for the next message instead.
      this.#housekeeping.stepOff(message);
      this.#questions?.delete(qid);
      this.#settle(question, false, error);
    }
    return question;
  }

  /** Settles the question a RESOLVE or REJECT `m` answers. */
  reply(m: unknown[]): void {
    const qid = m[1];
    if (typeof qid !== 'number') throw new ProtocolError('bad reply id');
    const question = this.#questions?.get(qid);
    if (question === undefined) {
      // A late reply to a call we gave up on: decode it so references get released by GC.
      if (m[0] === MSG_RESOLVE) fromWire(m[2], this.#session);
      return;
    }
    this.#questions?.delete(qid);
    this.#housekeeping.finish(qid);
    let ok = m[0] === MSG_RESOLVE;
    let value: unknown;
    try {
      value = ok
        ? (question.decodeAnswer ?? resultFromWire)(m[2], this.#session)
        : errorFromWire(m[2], this.#session, true);
      const refusal = this.#session.takeImportRefusal();
      if (refusal !== undefined) {
        ok = false;
        value = refusal;
      }
    } catch (error) {
      ok = false;
      value = error;
      this.#settle(question, ok, value);
      throw error;
    }
    this.#settle(question, ok, value);
  }

  #settle(question: Question, ok: boolean, value: unknown): void {
    const hold = question.hold;
    question.settle(ok, value);
    if (hold !== undefined) {
      hold.inflight--;
      question.hold = undefined;
      if (hold.inflight === 0 && hold.releaseWanted) this.#session.release(hold);
    }
  }

  /** Gives up `question`: the peer is told (CANCEL) and it fails locally with `reason`. */
  cancel(question: Question, reason: unknown): void {
    this.#cancel(question, reason);
  }

  #cancel(question: Question, reason: unknown): void {
    if (question.settled || this.#questions?.delete(question.qid) !== true) return;
    if (!this.#session.closed) {
      try {
        this.#session.send([MSG_CANCEL, question.qid]);
      } catch {
        // The connection is going away; the local rejection below is what matters.
      }
    }
    this.#settle(question, false, reason);
  }

  /** Rejects every request whose deadline passed and arms the timer for the next one. */
  expire(now: number): void {
    this.#armedDeadline = Number.POSITIVE_INFINITY;
    let next = Number.POSITIVE_INFINITY;
    const expired: Question[] = [];
    for (const question of this.#questions?.values() ?? []) {
      if (question.deadline === 0) continue;
      if (question.deadline <= now) expired.push(question);
      else if (question.deadline < next) next = question.deadline;
    }
    for (const question of expired) this.#cancel(question, new TimeoutError('the call timed out'));
    if (next !== Number.POSITIVE_INFINITY) {
      this.#armedDeadline = next;
      this.#io.armTimer(next);
    }
  }

  /** The session closed: every request in flight fails with `error`. */
  close(error: Error): void {
    const questions = [...(this.#questions?.values() ?? [])];
    this.#questions?.clear();
    for (const q of questions) this.#settle(q, false, error);
  }
}

/** A question that failed before it was asked. */
export function failed(error: unknown): Question {
  const question = new Question(0, undefined);
  question.settle(false, error);
  return question;
}

/** A request on the result of a call that already arrived: follows `path` through it. */
function requestOnSettled(
  q: Question,
  op: Operation,
  args: readonly unknown[] | null,
  path: readonly string[],
  options: CallOptions | undefined,
): Question {
  if (!q.ok) return failed(q.value);
  // The call already resolved: follow the path locally through values, then into a stub.
  let holder: unknown = q.value;
  for (let i = 0; i < path.length; i++) {
    const stub = stubStateOf(holder);
    if (stub !== undefined) {
      const rest = [...stub.path, ...path.slice(i)];
      const target = options ? stubStateOf(stub.withOptions(options))! : stub;
      // A reference that came home may be a stub of another connection.
      return (target.host as Session).request(target, op, args, rest);
    }
    const step = path[i]!;
    if (
      typeof holder !== 'object' ||
      holder === null ||
      step === '__proto__' ||
      !Object.hasOwn(holder, step)
    )
      return failed(new AccessDeniedError(`no property "${step}" in the call result`));
    holder = (holder as Record<string, unknown>)[step];
  }
  const stub = stubStateOf(holder);
  if (stub !== undefined) {
    const target = options ? stubStateOf(stub.withOptions(options))! : stub;
    return (target.host as Session).request(target, op, args, stub.path);
  }
  if (op === Operation.Get) {
    const done = new Question(0, undefined);
    done.settle(true, holder);
    return done;
  }
  return failed(
    new TypeError(
      `the call result is not a remote ${op === Operation.Call ? 'function' : 'object'}`,
    ),
  );
}

/**
 * Performs an operation of the peer on a stub of another connection (a forwarded
 * reference): the request is asked of that connection's peer.
 */
export function forward(
  stub: StubState,
  op: Operation,
  path: readonly string[],
  args: unknown[],
): unknown {
  const host = stub.host as Session;
  const fullPath = [...stub.path, ...path];
  if (op === Operation.Call) return host.request(stub, op, args, fullPath).promise();
  return host.request(stub, op, op === Operation.Get ? null : args, fullPath).promise();
}
