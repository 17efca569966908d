/**
 * A web page's own identity, generated in the browser and kept in IndexedDB (the page's
 * origin's), so that the same public key — which the user pastes into the server's
 * authorized_keys — logs in on every visit.
 *
 * Why the key is not a non-extractable CryptoKey: keyway's Noise handshake uses the
 * X25519 form of the Ed25519 identity (docs/security.md, "One key, one identity"), and
 * WebCrypto can neither convert a non-extractable Ed25519 key nor run that DH for it. So
 * the private key is stored as its OpenSSH text, readable by any script of the origin, as
 * `~/.ssh/id_ed25519` is readable by the user's programs; docs/security.md says so.
 */
import { generateIdentity, Identity } from '@keyway/secure';

const DATABASE = 'keyway';
const STORE = 'identities';

/** What a stored identity record holds. */
interface IdentityRecord {
  readonly name: string;
  readonly privateKey: string;
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

async function openDatabase(): Promise<IDBDatabase> {
  if (typeof indexedDB === 'undefined') throw new TypeError('this environment has no IndexedDB');
  const open = indexedDB.open(DATABASE, 1);
  open.onupgradeneeded = () => {
    if (!open.result.objectStoreNames.contains(STORE)) {
      open.result.createObjectStore(STORE, { keyPath: 'name' });
    }
  };
  return request(open);
}

async function withStore<T>(
  mode: IDBTransactionMode,
  work: (store: IDBObjectStore) => IDBRequest<T>,
): Promise<T> {
  const db = await openDatabase();
  try {
    return await request(work(db.transaction(STORE, mode).objectStore(STORE)));
  } finally {
    db.close();
  }
}

/**
 * The identity stored under `name`, made (and stored) on first use.
 * @param name which of the page's identities; default `'default'`
 * @param comment the comment of a new identity (ignored when it exists)
 * @returns the identity; `identity.publicKeyLine()` is the line for authorized_keys
 * @example
 * const identity = await browserIdentity();
 * show(identity.publicKeyLine());   // paste into the server's authorized_keys
 */
export async function browserIdentity(
  name = 'default',
  comment = 'keyway@browser',
): Promise<Identity> {
  if (typeof name !== 'string' || name === '')
    throw new TypeError('name must be a non-empty string');
  const stored = (await withStore('readonly', (s) => s.get(name))) as IdentityRecord | undefined;
  if (stored) return Identity.fromOpenSSH(stored.privateKey);
  const identity = generateIdentity(comment);
  const record: IdentityRecord = { name, privateKey: identity.toOpenSSH().privateKey };
  // add(), not put(): a second tab that raced this one keeps the first identity stored.
  try {
    await withStore('readwrite', (s) => s.add(record));
  } catch {
    const winner = (await withStore('readonly', (s) => s.get(name))) as IdentityRecord | undefined;
    if (winner) return Identity.fromOpenSSH(winner.privateKey);
    throw new Error(`could not store identity ${name}`);
  }
  return identity;
}

/**
 * Forgets the identity stored under `name` (a new one is made on the next use).
 * @param name default `'default'`
 */
export async function forgetBrowserIdentity(name = 'default'): Promise<void> {
  await withStore('readwrite', (s) => s.delete(name));
}
