/**
 * RPC connection options as keyway uses them over a network: keepalive is on unless the
 * caller turns it off, so that a frozen peer or a link that died without a FIN or RST does
 * not hold a connection (and its calls) open for ever. Core leaves it off, since an
 * in-memory or MessagePort peer cannot vanish silently.
 */
import { type ConnectionOptions, DEFAULT_KEEPALIVE } from '@keyway/core';

/**
 * `options` with keepalive defaulted to {@link DEFAULT_KEEPALIVE} (a PING after 30 s of
 * silence, close after 60 s); an explicit `keepalive`, `false` included, is kept.
 */
export function withNetworkDefaults(options: ConnectionOptions | undefined): ConnectionOptions {
  return { ...options, keepalive: options?.keepalive ?? DEFAULT_KEEPALIVE };
}
