/**
 * Channel limits after authentication (docs/security.md, "Authentication"): the fields an
 * application leaves out of `authenticatedLimits` take their DEFAULT_CHANNEL_LIMITS value,
 * not the tighter pre-authentication one the channel started with.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { authenticatedLimits } from '../src/auth/server-session.js';
import {
  type AcceptedConnection,
  anonymousAuth,
  DEFAULT_CHANNEL_LIMITS,
  generateIdentity,
  KnownHosts,
  type MessageTransport,
} from '../src/index.js';
import { login, type Rig, startRig } from './auth-helpers.js';

const hostKey = generateIdentity('host');

function knownHostsFor(port: number): KnownHosts {
  const known = KnownHosts.parse('');
  known.add('127.0.0.1', port, hostKey.publicKey);
  return known;
}

/** Sends one message of `size` bytes and resolves with what arrived, or why it did not. */
function sendBig(from: MessageTransport, to: MessageTransport, size: number): Promise<string> {
  return new Promise((resolve) => {
    to.start({
      onMessage: (d) => resolve(`got ${d.length}`),
      onClose: (e) => resolve(`closed: ${e?.message}`),
    });
    from.start({ onMessage: () => {}, onClose: () => {} });
    from.send(new Uint8Array(size).fill(7));
  });
}

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('authenticatedLimits', () => {
  it('fills the fields left out from DEFAULT_CHANNEL_LIMITS', () => {
    expect(authenticatedLimits(undefined)).toEqual(DEFAULT_CHANNEL_LIMITS);
    expect(authenticatedLimits({})).toEqual(DEFAULT_CHANNEL_LIMITS);
    expect(authenticatedLimits({ maxMessageBytes: 8 << 20 })).toEqual({
      maxFrameBytes: DEFAULT_CHANNEL_LIMITS.maxFrameBytes,
      maxMessageBytes: 8 << 20,
    });
    expect(
      authenticatedLimits({ maxFrameBytes: 32_000, maxMessageBytes: undefined as never }),
    ).toEqual({
      maxFrameBytes: 32_000,
      maxMessageBytes: DEFAULT_CHANNEL_LIMITS.maxMessageBytes,
    });
  });

  it('server with only maxMessageBytes set takes full-size frames after OK', async () => {
    rig = await startRig(
      anonymousAuth({ identity: hostKey, authenticatedLimits: { maxMessageBytes: 8 << 20 } }),
    );
    const client = await login(rig.port, { knownHosts: knownHostsFor(rig.port) });
    const server = (await rig.accepted[0]) as AcceptedConnection;
    // 100 000 bytes leave as 65 535-byte frames (the client's default limits).
    expect(await sendBig(client, server.transport, 100_000)).toBe('got 100000');
    client.close();
  });

  it('client with only maxMessageBytes set takes full-size frames after OK', async () => {
    rig = await startRig(anonymousAuth({ identity: hostKey }));
    const client = await login(rig.port, {
      knownHosts: knownHostsFor(rig.port),
      authenticatedLimits: { maxMessageBytes: 8 << 20 },
    });
    const server = (await rig.accepted[0]) as AcceptedConnection;
    expect(await sendBig(server.transport, client, 100_000)).toBe('got 100000');
    client.close();
  });

  it('the limits asked for still hold: a larger message than maxMessageBytes is refused', async () => {
    rig = await startRig(
      anonymousAuth({ identity: hostKey, authenticatedLimits: { maxMessageBytes: 50_000 } }),
    );
    const client = await login(rig.port, { knownHosts: knownHostsFor(rig.port) });
    const server = (await rig.accepted[0]) as AcceptedConnection;
    expect(await sendBig(client, server.transport, 100_000)).toMatch(/^closed:/);
    client.close();
  });

  it('out-of-range limits are refused at the boundary, before any handshake', async () => {
    expect(() => authenticatedLimits({ maxFrameBytes: 10 })).toThrow(RangeError);
    rig = await startRig(anonymousAuth({ identity: hostKey }));
    const attempt = login(rig.port, {
      knownHosts: knownHostsFor(rig.port),
      authenticatedLimits: { maxFrameBytes: 70_000 },
    });
    await expect(attempt).rejects.toThrow(RangeError);
  });
});
