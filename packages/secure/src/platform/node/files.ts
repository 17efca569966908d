/**
 * Key files and databases on Node: the checked reads and atomic writes of file-safety.ts.
 * Chosen through the package's `#platform/files` import (its browser twin refuses).
 */
export { atomicWriteFile, readDatabaseFile, readPrivateKeyFile } from '../../file-safety.js';
