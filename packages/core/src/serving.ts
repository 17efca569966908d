/**
 * Serving the peer (docs/protocol.md §3, §5-§8): the answer table of one session. Each
 * request of the peer becomes an answer, kept until the peer finishes it so later
 * requests can pipeline on it; its path and operation go through the access gate
 * (`access()`, the one choke point), its result goes back as RESOLVE or REJECT, and the
 * export counts the peer releases are dropped here. What a peer can make us hold is
 * bounded here too (§9): requests held at once (`maxPendingCalls`), calls pipelined one
 * on another (`maxPipelineDepth`), and the calls and request bytes charged to the
 * server's budget (`budget.ts`).
 */
import { type AccessPolicy, access, Operation } from './access-gate.js';
import { Answer, type Waiter } from './answer.js';
import { EMPTY_PATH, forward } from './asking.js';
import { admitRequest, BudgetKind, overBudget } from './budget.js';
import { clampCredit, isByteSource } from './byte-stream.js';
import { enterCall } from './call-context.js';
import type { Connection } from './connection.js';
import { rpcDebugLogger } from './debug.js';
import { AccessDeniedError, KeywayError, LimitExceededError, ProtocolError } from './errors.js';
import type { ExportTable } from './export-table.js';
import { IdTable } from './id-table.js';
import { clampBatch, IteratorHandle, isIteratorHandle } from './iteration.js';
import { MSG_REJECT, MSG_RESOLVE, TARGET_ANSWER, TARGET_EXPORT } from './message-kinds.js';
import { errorToWire, fromWire, stringPath, toWire } from './serialize.js';
import type { Session, SessionSettings } from './session.js';
import { stubStateOf } from './stub.js';

/** Operations by number, for debug events. */
const OPERATION_NAMES = ['get', 'set', 'delete', 'call', 'iterate', 'dispose', 'list'] as const;

const EMPTY_ARGS: unknown[] = [];

/** The peer's requests to us, from arrival until the peer finishes them. */
export class Serving {
  readonly #session: Session;
  readonly #settings: SessionSettings;
  readonly #exports: ExportTable;
  #connection!: Connection;
  // Made with the first request: a connection whose peer never calls holds no table.
  #answers: IdTable<Answer> | undefined;
  /**
   * Requests the peer makes us hold: admitted and not yet both completed and finished.
   * A call the peer finished or cancelled while its method still runs stays counted, so
   * letting go of its own calls never lets a peer pass `maxPendingCalls`.
   */
  #held = 0;
  /** Peer requests not yet settled, and who waits for that count to reach zero. */
  #serving = 0;
  #drainWaiters: (() => void)[] | undefined;
  #pendingArgs: Promise<unknown>[] | undefined;
  /** Waiters of settled answers, run one after another (see `#wake`). */
  #ready: Waiter[] | undefined;
  #waking = false;

  constructor(session: Session, settings: SessionSettings, exports: ExportTable) {
    this.#session = session;
    this.#settings = settings;
    this.#exports = exports;
  }

  /** Attaches the facade that `currentCall()` reports (the session is built before it). */
  attach(connection: Connection): void {
    this.#connection = connection;
  }

  /** Answers the peer has not finished yet. */
  get answers(): number {
    return this.#answers?.size ?? 0;
  }

  /** Gives back the room of the answer table when it is empty (a quiet moment). */
  compact(): void {
    this.#answers?.compact();
  }

  /** Requests of the peer not yet settled. */
  get serving(): number {
    return this.#serving;
  }

  /**
   * Takes a REQUEST `m` of the peer and starts serving it. The finishes and releases that
   * rode on it must have been applied already (they happened before it).
   * @param bytes The request's estimated decoded size, charged to the budget while served.
   */
  request(m: unknown[], bytes: number): void {
    const [, qid, op, targetKind, targetId, rawPath, rawArgs] = m;
    if (typeof qid !== 'number' || !Number.isSafeInteger(qid) || this.#answers?.has(qid) === true)
      throw new ProtocolError('bad or duplicate request id');
    if (typeof op !== 'number' || op < 0 || op > Operation.List || !Number.isInteger(op))
      throw new ProtocolError('unknown operation');
    if (typeof targetId !== 'number') throw new ProtocolError('bad target');
    if (targetKind !== TARGET_EXPORT && targetKind !== TARGET_ANSWER)
      throw new ProtocolError('bad target kind');
    if (targetKind === TARGET_ANSWER && targetId >= qid)
      throw new ProtocolError('a request may only pipeline on an earlier one');
    const path = rawPath === null ? EMPTY_PATH : stringPath(rawPath);

    // Over a limit the request is refused on its own and nothing of it is kept, not even
    // the references in its arguments (given back unread): the peer learns why at once
    // and the connection goes on.
    if (this.#held >= this.#settings.maxPendingCalls) {
      this.#refuse(
        qid,
        new LimitExceededError(
          `more than ${this.#settings.maxPendingCalls} requests of the peer held at once`,
        ),
        rawArgs,
      );
      return;
    }
    // One call and the request's size are taken here and given back on the transitions
    // that end them: the size when it stops being served (#doneServing), the call with
    // #held (#letGo, #complete), or all at once when the session closes.
    const refused = admitRequest(this.#session.budget, bytes);
    if (refused !== undefined) {
      this.#refuse(qid, overBudget(refused), rawArgs);
      return;
    }

    this.#pendingArgs = undefined;
    let args: unknown[];
    if (rawArgs === null || rawArgs === undefined) args = EMPTY_ARGS;
    else if (Array.isArray(rawArgs)) {
      args = new Array(rawArgs.length);
      for (let i = 0; i < rawArgs.length; i++) args[i] = fromWire(rawArgs[i], this.#session);
    } else throw new ProtocolError('bad arguments');
    const waits = this.#pendingArgs as Promise<unknown>[] | undefined;
    this.#pendingArgs = undefined;

    const base = targetKind === TARGET_ANSWER ? this.#answers?.get(targetId) : undefined;
    const answer = new Answer(qid, this.#connection, base === undefined ? 0 : base.depth + 1);
    answer.bytes = bytes;
    this.#held++;
    this.#serving++;
    this.#answers ??= new IdTable();
    this.#answers.set(qid, answer);
    rpcDebugLogger()?.('call', {
      id: qid,
      op: OPERATION_NAMES[op],
      path: path.join('.'),
      target: targetKind === TARGET_ANSWER ? `answer ${targetId}` : `object ${targetId}`,
    });

    // The budget refused a reference in the arguments (given back already): the call is
    // admitted, so it fails like any call and is finished like any call.
    const refusal = this.#session.takeImportRefusal();
    if (refusal !== undefined) {
      this.#settle(answer, 2, refusal);
      return;
    }

    const operation = op as Operation;
    // Disposing is the owner's decision, taken when the peer releases its last reference
    // and the owner set disposeOnRelease (disposeExport below); never a peer's request.
    if (operation === Operation.Dispose) {
      this.#settle(
        answer,
        2,
        new AccessDeniedError('dispose denied: release the reference instead'),
      );
      return;
    }
    if (targetKind === TARGET_EXPORT) {
      const value = this.#exports.get(targetId);
      if (value === undefined) {
        this.#settle(
          answer,
          2,
          new KeywayError('ERR_UNKNOWN_REFERENCE', 'the object was released or never existed'),
        );
        return;
      }
      if (waits === undefined) {
        this.#perform(answer, operation, value, path, args);
        return;
      }
      void Promise.all(waits).then(
        (values) => this.#perform(answer, operation, value, path, substitute(args, waits, values)),
        (error: unknown) => this.#settle(answer, 2, error),
      );
      return;
    }
    if (base === undefined) {
      this.#settle(
        answer,
        2,
        new KeywayError('ERR_UNKNOWN_REFERENCE', 'pipelined on a finished or unknown call'),
      );
      return;
    }
    if (answer.depth > this.#settings.maxPipelineDepth) {
      this.#settle(
        answer,
        2,
        new LimitExceededError(
          `more than ${this.#settings.maxPipelineDepth} calls pipelined one on another`,
        ),
      );
      return;
    }
    const run = () => {
      if (base.state === 2) return this.#settle(answer, 2, base.value);
      if (waits === undefined) return this.#perform(answer, operation, base.value, path, args);
      void Promise.all(waits).then(
        (values) =>
          this.#perform(answer, operation, base.value, path, substitute(args, waits, values)),
        (error: unknown) => this.#settle(answer, 2, error),
      );
    };
    if (base.state === 0) {
      base.waiters ??= [];
      base.waiters.push(run);
    } else run();
  }

  /**
   * Performs the operation of `answer`. Never throws: whatever goes wrong settles the
   * answer, since this runs inside promise callbacks, where a throw would become a
   * rejection nobody handles, and that ends a Node process.
   */
  #perform(
    answer: Answer,
    op: Operation,
    target: unknown,
    path: readonly string[],
    args: unknown[],
  ): void {
    if (answer.cancelled) {
      this.#complete(answer);
      return;
    }
    const previous = enterCall(answer);
    try {
      const result = operate(op, target, path, args, this.#settings);
      enterCall(previous);
      const stub = stubStateOf(result);
      if (result instanceof Promise || stub?.thenable === true) {
        (result as PromiseLike<unknown>).then(
          (value) => this.#settle(answer, 1, value),
          (error: unknown) => this.#settle(answer, 2, error),
        );
        return;
      }
      this.#settle(answer, 1, result);
    } catch (error) {
      enterCall(previous);
      this.#settle(answer, 2, error);
    }
  }

  /** Settles `answer` and replies; never throws (it runs inside promise callbacks). */
  #settle(answer: Answer, state: number, value: unknown): void {
    try {
      this.#complete(answer);
      // A cancel settled it already, for the calls pipelined on it; nobody wants the result.
      if (answer.state !== 0) return;
      this.#doneServing(answer);
      rpcDebugLogger()?.('return', {
        id: answer.qid,
        ok: state === 1,
        error: state === 1 ? undefined : (value as { name?: unknown } | null)?.name,
      });
      this.#wake(answer.settle(state, value));
      this.#reply(answer, state, value);
    } catch (error) {
      this.#internalFailure(error);
    }
  }

  #reply(answer: Answer, state: number, value: unknown): void {
    const session = this.#session;
    if (answer.cancelled || session.closed) return;
    this.#exports.begin();
    try {
      if (state === 1) {
        session.send([
          MSG_RESOLVE,
          answer.qid,
          toWire(value, session, this.#settings.maxDepth - 2),
        ]);
      } else {
        session.send([
          MSG_REJECT,
          answer.qid,
          errorToWire(value, session, this.#settings.maxDepth - 2),
        ]);
      }
      this.#exports.commit();
    } catch (error) {
      this.#exports.rollback();
      // The result could not be sent (unsupported value, too large, a cause that fails to
      // encode): the caller learns why instead of waiting for its timeout.
      if (session.closed) return;
      answer.state = 2;
      answer.value = error;
      this.#refuse(answer.qid, error);
    }
  }

  /**
   * Rejects request `qid` with `error` (small: no cause, no stack). `rawArgs`, the wire
   * arguments of a request refused before it was admitted, are read only to give back the
   * references the peer sent in them (it counts them as held by us).
   */
  #refuse(qid: number, error: unknown, rawArgs?: unknown): void {
    const session = this.#session;
    if (session.closed) return;
    if (rawArgs !== undefined) session.returnReferences(rawArgs);
    try {
      session.send([MSG_REJECT, qid, errorToWire(error, session, 0)]);
    } catch {
      // Only a closing transport fails a small message; the close settles the caller.
    }
  }

  /**
   * Runs the waiters of settled answers from one queue. Settling an answer wakes the calls
   * pipelined on it, whose settling wakes theirs: run in place, a chain of a few thousand
   * links would overflow the stack. Only the outermost call drains the queue.
   */
  #wake(waiters: Waiter[] | undefined): void {
    if (waiters === undefined) return;
    this.#ready ??= [];
    const ready = this.#ready;
    for (const waiter of waiters) ready.push(waiter);
    if (this.#waking) return;
    this.#waking = true;
    try {
      for (let i = 0; i < ready.length; i++) {
        try {
          ready[i]!();
        } catch (error) {
          this.#internalFailure(error);
        }
      }
    } finally {
      ready.length = 0;
      this.#waking = false;
    }
  }

  /** Serving broke in a way no input should cause: close this connection, not the process. */
  #internalFailure(error: unknown): void {
    this.#session.fail(
      new KeywayError('ERR_INTERNAL', 'serving a request failed unexpectedly', { cause: error }),
    );
  }

  /** The work of `answer` is over; it stops counting if the peer finished it too. */
  #complete(answer: Answer): void {
    if (answer.completed) return;
    answer.completed = true;
    if (answer.finished && !this.#session.closed) this.#release();
  }

  /** One request stops counting: against `maxPendingCalls` and in the budget's calls. */
  #release(): void {
    this.#held--;
    this.#session.budget.release(BudgetKind.Calls, 1);
  }

  /**
   * The peer let go of `answer` (a finish or a cancel). A call still running is cancelled:
   * its signal aborts and calls pipelined on it fail now; it keeps counting until it settles.
   */
  #letGo(answer: Answer): void {
    this.#answers?.delete(answer.qid);
    answer.finished = true;
    if (answer.completed) {
      this.#release();
      return;
    }
    answer.cancel();
    if (answer.state === 0) {
      // A cancelled call no longer counts as served (drain), whatever the method does next.
      this.#doneServing(answer);
      this.#wake(
        answer.settle(2, new KeywayError('ERR_CANCELLED', 'the caller cancelled the call')),
      );
    }
  }

  /** The peer cancelled its request `qid` (a CANCEL message). */
  cancel(qid: unknown): void {
    const answer = typeof qid === 'number' ? this.#answers?.get(qid) : undefined;
    if (answer !== undefined) this.#letGo(answer);
  }

  /** Applies the peer's finishes (answers it no longer needs) and export releases. */
  housekeeping(finishes: unknown, releases: unknown): void {
    if (Array.isArray(finishes)) {
      for (const qid of finishes) {
        const answer = typeof qid === 'number' ? this.#answers?.get(qid) : undefined;
        if (answer !== undefined) this.#letGo(answer);
      }
    }
    if (Array.isArray(releases)) {
      for (let i = 0; i + 1 < releases.length; i += 2) {
        const id = releases[i];
        const count = releases[i + 1];
        if (typeof id === 'number' && typeof count === 'number') {
          const dropped = this.#exports.release(id, count);
          if (dropped !== undefined) disposeExport(dropped, this.#settings);
        }
      }
    }
  }

  /** The local value behind our export `id`, with `path` followed through the gate. */
  localRef(id: number, path: readonly string[] | undefined): unknown {
    const value = this.#exports.get(id);
    if (value === undefined) throw new ProtocolError('reference to an object that is not exported');
    if (path === undefined || path.length === 0) return value;
    // The path goes through the gate on the peer's behalf; a refusal fails the request
    // that carried it, not the connection.
    let resolved: unknown;
    try {
      resolved = operate(Operation.Get, value, path, EMPTY_ARGS, this.#settings);
    } catch (error) {
      resolved = Promise.reject(error);
    }
    if (resolved instanceof Promise) {
      resolved.catch(() => {});
      this.#pendingArgs ??= [];
      this.#pendingArgs.push(resolved);
    }
    return resolved;
  }

  /** The value of the peer's earlier request `qid` (a promise), with `path` followed. */
  answerRef(qid: number, path: readonly string[] | undefined): unknown {
    const answer = this.#answers?.get(qid);
    if (answer === undefined) throw new ProtocolError('reference to an unknown call result');
    const value =
      path === undefined || path.length === 0
        ? answer.whenSettled()
        : answer.whenSettled().then((v) => {
            const r = operate(Operation.Get, v, path, EMPTY_ARGS, this.#settings);
            return r;
          });
    value.catch(() => {});
    this.#pendingArgs ??= [];
    this.#pendingArgs.push(value);
    return value;
  }

  #doneServing(answer: Answer): void {
    if (this.#session.closed) return;
    this.#session.budget.release(BudgetKind.RequestBytes, answer.bytes);
    this.#serving--;
    if (this.#serving === 0 && this.#drainWaiters !== undefined) {
      const waiters = this.#drainWaiters;
      this.#drainWaiters = undefined;
      for (const w of waiters) w();
    }
  }

  /** Resolves once no request of the peer is being served (at once if none is). */
  drain(): Promise<void> {
    if (this.#serving === 0 || this.#session.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drainWaiters ??= [];
      this.#drainWaiters.push(resolve);
    });
  }

  /** The session closed: stops every answer, wakes drain() and drops every export. */
  close(): void {
    const answers = this.#answers;
    if (answers !== undefined) {
      for (const answer of answers.values()) answer.cancel();
      answers.clear();
    }
    this.#held = 0;
    this.#serving = 0;
    const drained = this.#drainWaiters;
    this.#drainWaiters = undefined;
    for (const w of drained ?? []) w();
    for (const value of this.#exports.clear()) disposeExport(value, this.#settings);
  }
}

/** Follows `path` through the gate and performs `op`; forwards into stubs. */
function operate(
  op: Operation,
  target: unknown,
  path: readonly string[],
  args: unknown[],
  policy: SessionSettings,
): unknown {
  const steps =
    op === Operation.Get || op === Operation.Iterate || op === Operation.List
      ? path.length
      : Math.max(0, path.length - 1);
  if (path.length === 0 && (op === Operation.Set || op === Operation.Delete))
    throw new AccessDeniedError('this operation needs a member name');
  let holder = target;
  for (let i = 0; i < steps; i++) {
    const stub = stubStateOf(holder);
    if (stub !== undefined) return forward(stub, op, path.slice(i), args);
    holder = access(Operation.Get, holder, path[i], policy);
    // An async getter in the middle of a path: continue once it settles.
    if (holder instanceof Promise && i + 1 < path.length) {
      const rest = path.slice(i + 1);
      return holder.then((value) => operate(op, value, rest, args, policy));
    }
  }
  const stub = stubStateOf(holder);
  if (stub !== undefined) return forward(stub, op, path.slice(steps), args);
  switch (op) {
    case Operation.Get:
      return holder;
    case Operation.Iterate:
      return iterateLocal(holder, args, policy);
    case Operation.List:
      return access(op, holder, undefined, policy);
    case Operation.Call:
      return access(op, holder, path.length === 0 ? undefined : path[steps], policy, args);
    default:
      return access(op, holder, path[steps], policy, args);
  }
}

/** Serves one ITERATE: the next batch of a local iterator, opened on the first request. */
function iterateLocal(
  holder: unknown,
  args: unknown[],
  settings: SessionSettings,
): Promise<unknown> {
  if (isByteSource(holder)) return holder._read(clampCredit(args[0], settings.streamChunkBytes));
  const batch = clampBatch(args[0], settings.iterationBatchSize);
  let handle: IteratorHandle;
  let fresh = false;
  if (isIteratorHandle(holder)) handle = holder;
  else {
    const iterator = access(Operation.Iterate, holder, undefined, settings);
    if ((typeof iterator !== 'object' && typeof iterator !== 'function') || iterator === null)
      throw new TypeError('the iterator method did not return an iterator');
    handle = new IteratorHandle(iterator as Iterator<unknown>);
    fresh = true;
  }
  return handle._pull(batch).then(({ items, done }) => {
    if (fresh && done) return { items, done, handle: null };
    return fresh ? { items, done, handle } : { items, done };
  });
}

/** Disposes an export the peer no longer holds, if the policy asks for it. */
function disposeExport(value: object, policy: AccessPolicy): void {
  const handle = isIteratorHandle(value) || isByteSource(value);
  if (!handle && !policy.disposeOnRelease) return;
  try {
    const result = handle ? value._close() : access(Operation.Dispose, value, undefined, policy);
    if (result instanceof Promise) result.catch(() => {});
  } catch {
    // A failing dispose of the owner's object is the owner's concern, not the peer's.
  }
}

function substitute(args: unknown[], waits: Promise<unknown>[], values: unknown[]): unknown[] {
  return args.map((a) => {
    const i = waits.indexOf(a as Promise<unknown>);
    return i >= 0 ? values[i] : a;
  });
}
