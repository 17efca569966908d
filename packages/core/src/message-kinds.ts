/**
 * Message kinds and request targets of the RPC wire protocol (docs/protocol.md §3), shared
 * by the session's dispatch and the two halves that build messages: serving the peer's
 * requests (`serving.ts`) and asking the peer (`asking.ts`).
 */

/** `[0, "keyway-rpc", version]`: the first message of each side. */
export const MSG_HELLO = 0;
/** `[1, qid, op, targetKind, targetId, path, args, timeoutMs, finishes?, releases?]`. */
export const MSG_REQUEST = 1;
/** `[2, qid, value]`: the request succeeded. */
export const MSG_RESOLVE = 2;
/** `[3, qid, error]`: the request failed. */
export const MSG_REJECT = 3;
/** `[4, finishes, releases]`: finishes and releases no request carried. */
export const MSG_HOUSEKEEPING = 4;
/** `[5, qid]`: the caller gave up; also finishes `qid`. */
export const MSG_CANCEL = 5;
/** `[6, n]`: liveness probe. */
export const MSG_PING = 6;
/** `[7, n]`: answer to PING `n`. */
export const MSG_PONG = 7;
/** `[8, code, message]`: fatal error; the sender closes the transport next. */
export const MSG_ABORT = 8;

/** Request target: `targetId` is an export id of the callee. */
export const TARGET_EXPORT = 0;
/** Request target: `targetId` is the qid of an earlier request whose result is used. */
export const TARGET_ANSWER = 1;
