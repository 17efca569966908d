/**
 * Regression: a closed channel stayed reachable for the whole close grace period (5 s),
 * because the grace timer's closure held the stream after it had closed.
 */
import { describe, expect, it } from 'vitest';
import type { SecureChannel } from '../src/channel/secure-channel.js';
import { securePair } from './channel-helpers.js';

const gc = (globalThis as { gc?: () => void }).gc;

describe('closing releases the channel at once', () => {
  it.skipIf(gc === undefined)(
    'a channel closed by both sides is collectable before the grace period ends',
    async () => {
      let ref: WeakRef<SecureChannel> | undefined;
      await (async () => {
        const pair = await securePair({
          responder: { channel: { closeGraceMs: 60_000 } },
          initiator: { channel: { closeGraceMs: 60_000 } },
        });
        const client = pair.client.channel;
        const server = pair.server.channel;
        ref = new WeakRef(server);
        const serverClosed = new Promise<void>((r) =>
          server.start({ onMessage: () => {}, onClose: () => r() }),
        );
        client.start({ onMessage: () => {}, onClose: () => {} });
        client.close();
        await serverClosed;
        await Promise.all(
          pair.sockets.map((s) =>
            s.destroyed && s.closed ? undefined : new Promise((r) => s.once('close', r)),
          ),
        );
      })();
      for (let i = 0; i < 20 && ref?.deref() !== undefined; i++) {
        await new Promise((r) => setTimeout(r, 20));
        gc?.();
      }
      expect(ref?.deref()).toBeUndefined();
    },
  );
});
