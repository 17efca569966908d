/**
 * The seam between core and secure is structural: @keyway/secure's SecureChannel must be
 * usable as @keyway/core's Transport without either package importing the other. This
 * file is typechecked (`tsc --noEmit`), so the assignments below are the compile-time
 * proof; the test then runs a message round trip through the Transport interface only.
 */
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import type { Transport, TransportReceiver } from '@keyway/core';
import {
  keywayPrologue,
  nodeCryptoProvider,
  performHandshake,
  type SecureChannel,
} from '@keyway/secure';
import { describe, expect, it } from 'vitest';

// Compile-time proof: a SecureChannel is a Transport, its receiver a TransportReceiver.
const asTransport = (channel: SecureChannel): Transport => channel;
const receiverFits: Parameters<SecureChannel['start']>[0] = {} as TransportReceiver;
void receiverFits;

async function tcpPair(): Promise<[Socket, Socket]> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  await once(client, 'connect');
  const [serverSide] = await accepted;
  server.close();
  return [client, serverSide];
}

describe('SecureChannel as a core Transport', () => {
  it('round-trips messages and closes through the Transport interface alone', async () => {
    const [a, b] = await tcpPair();
    const prologue = keywayPrologue('transport-shape');
    const [client, server] = await Promise.all([
      performHandshake(a, {
        role: 'initiator',
        staticKeyPair: nodeCryptoProvider.generateKeyPair(),
        prologue,
        verifyRemote: () => {},
      }),
      performHandshake(b, {
        role: 'responder',
        staticKeyPair: nodeCryptoProvider.generateKeyPair(),
        prologue,
        verifyRemote: () => {},
      }),
    ]);
    const left: Transport = asTransport(client.channel);
    const right: Transport = asTransport(server.channel);
    expect(left.remoteAddress).toMatch(/^127\.0\.0\.1:\d+$/);

    right.start({
      onMessage: (data) => right.send(data.map((x) => x + 1)),
      onClose: () => {},
    });
    const received: number[][] = [];
    const closed = new Promise<Error | undefined>((resolve) => {
      left.start({
        onMessage: (data) => {
          received.push([...data]);
          if (received.length === 2) left.close();
        },
        onClose: resolve,
      });
    });
    left.send(Uint8Array.of(1, 2));
    left.send(Uint8Array.of(10));
    expect(await closed).toBeUndefined();
    expect(received).toEqual([[2, 3], [11]]);
    left.close();
  });
});
