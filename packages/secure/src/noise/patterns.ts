/**
 * Handshake patterns as frozen data tables (Noise rev 34 §7.4 one-way patterns and §7.5
 * interactive patterns). The handshake state machine interprets these; there is no
 * per-pattern branch anywhere else.
 */

/** A token of a handshake message (Noise rev 34 §7.1). */
export type MessageToken = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss';

/** A token of a pre-message: a public key both sides know before the handshake. */
export type PreMessageToken = 'e' | 's';

/** One handshake pattern: pre-messages and the messages, alternating, initiator first. */
export interface HandshakePattern {
  /** The pattern's name as it appears in a protocol name (`XX`, `IK`, `N`). */
  readonly name: string;
  /** Keys the responder knows of the initiator before the handshake (`-> s`). */
  readonly initiatorPreMessage: readonly PreMessageToken[];
  /** Keys the initiator knows of the responder before the handshake (`<- s`). */
  readonly responderPreMessage: readonly PreMessageToken[];
  /** The handshake messages in order; even indices are sent by the initiator. */
  readonly messages: readonly (readonly MessageToken[])[];
  /** One-way patterns carry transport data from initiator to responder only. */
  readonly oneWay: boolean;
}

function pattern(
  name: string,
  pre: { i?: PreMessageToken[]; r?: PreMessageToken[] },
  messages: MessageToken[][],
  oneWay = false,
): HandshakePattern {
  return Object.freeze({
    name,
    initiatorPreMessage: Object.freeze(pre.i ?? []),
    responderPreMessage: Object.freeze(pre.r ?? []),
    messages: Object.freeze(messages.map((m) => Object.freeze(m))),
    oneWay,
  });
}

/** Every one-way and interactive fundamental pattern of Noise rev 34, by name. */
export const HANDSHAKE_PATTERNS: Readonly<Record<string, HandshakePattern>> = Object.freeze({
  N: pattern('N', { r: ['s'] }, [['e', 'es']], true),
  K: pattern('K', { i: ['s'], r: ['s'] }, [['e', 'es', 'ss']], true),
  X: pattern('X', { r: ['s'] }, [['e', 'es', 's', 'ss']], true),
  NN: pattern('NN', {}, [['e'], ['e', 'ee']]),
  NK: pattern('NK', { r: ['s'] }, [
    ['e', 'es'],
    ['e', 'ee'],
  ]),
  NX: pattern('NX', {}, [['e'], ['e', 'ee', 's', 'es']]),
  KN: pattern('KN', { i: ['s'] }, [['e'], ['e', 'ee', 'se']]),
  KK: pattern('KK', { i: ['s'], r: ['s'] }, [
    ['e', 'es', 'ss'],
    ['e', 'ee', 'se'],
  ]),
  KX: pattern('KX', { i: ['s'] }, [['e'], ['e', 'ee', 'se', 's', 'es']]),
  XN: pattern('XN', {}, [['e'], ['e', 'ee'], ['s', 'se']]),
  XK: pattern('XK', { r: ['s'] }, [
    ['e', 'es'],
    ['e', 'ee'],
    ['s', 'se'],
  ]),
  XX: pattern('XX', {}, [['e'], ['e', 'ee', 's', 'es'], ['s', 'se']]),
  IN: pattern('IN', {}, [
    ['e', 's'],
    ['e', 'ee', 'se'],
  ]),
  IK: pattern('IK', { r: ['s'] }, [
    ['e', 'es', 's', 'ss'],
    ['e', 'ee', 'se'],
  ]),
  IX: pattern('IX', {}, [
    ['e', 's'],
    ['e', 'ee', 'se', 's', 'es'],
  ]),
});
