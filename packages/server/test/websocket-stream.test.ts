/**
 * The WebSocket byte stream's backpressure: bytes a peer does not read stay counted in
 * `writableLength` (what the secure channel's `maxBufferedBytes` rule reads), and a
 * reader that stops reading pauses the WebSocket instead of buffering without bound.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { WEBSOCKET_MESSAGE_BYTES, WebSocketStream } from '../src/websocket-stream.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function pair(): Promise<{ server: WebSocket; client: WebSocket }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const { port } = wss.address() as { port: number };
  const accepted = once(wss, 'connection');
  const client = new WebSocket(`ws://127.0.0.1:${port}`);
  await once(client, 'open');
  const [server] = (await accepted) as [WebSocket];
  cleanups.push(() => {
    client.terminate();
    server.terminate();
    wss.close();
  });
  return { server, client };
}

describe('WebSocketStream backpressure', () => {
  it('keeps unsent bytes in writableLength while the peer does not read', async () => {
    const { server, client } = await pair();
    client.pause();
    const stream = new WebSocketStream(server);
    const chunk = Buffer.alloc(WEBSOCKET_MESSAGE_BYTES);
    let accepted = true;
    // 25 MiB, more than the loopback socket buffers hold.
    for (let i = 0; i < 400; i++) accepted = stream.write(chunk);
    // Let the socket take what the kernel buffers hold.
    await new Promise((r) => setTimeout(r, 200));
    expect(accepted).toBe(false);
    // Kernel buffers take some megabytes at most; the rest waits, counted.
    expect(stream.writableLength).toBeGreaterThan(1024 * 1024);
    const before = stream.writableLength;
    client.resume();
    client.on('message', () => {});
    for (let i = 0; i < 100 && stream.writableLength > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(stream.writableLength).toBeLessThan(before);
  });

  it('pauses the WebSocket when its reader stops reading', async () => {
    const { server, client } = await pair();
    const stream = new WebSocketStream(server);
    stream.pause();
    const chunk = new Uint8Array(WEBSOCKET_MESSAGE_BYTES);
    for (let i = 0; i < 64; i++) client.send(chunk);
    await new Promise((r) => setTimeout(r, 300));
    // Node's stream buffers up to its high-water mark, then the WebSocket is paused: the
    // rest waits in the socket, not in this process's memory.
    expect(server.isPaused).toBe(true);
    expect(stream.readableLength).toBeLessThan(64 * WEBSOCKET_MESSAGE_BYTES);
    let received = 0;
    stream.on('data', (data: Buffer) => {
      received += data.length;
    });
    stream.resume();
    for (let i = 0; i < 100 && received < 64 * WEBSOCKET_MESSAGE_BYTES; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(received).toBeGreaterThanOrEqual(64 * WEBSOCKET_MESSAGE_BYTES);
  });
});
