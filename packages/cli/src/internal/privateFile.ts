import * as Effect from "effect/Effect"
import * as fs from "node:fs"

/**
 * Creates the database file `path` empty and readable by its owner only (mode 0600), unless it exists: it holds
 * email addresses. SQLite then makes a new database in the empty file, and creates its `-wal`, `-shm` and
 * `-journal` files with the database file's mode. An existing file keeps its mode (its owner's choice), and
 * a file that cannot be created is left for SQLite to report when it opens it. `:memory:` and `file:` URIs
 * are left alone.
 */
export const createPrivateDatabaseFile = (path: string): Effect.Effect<void> =>
  Effect.sync(() => {
    if (path === "" || path === ":memory:" || path.startsWith("file:")) return
    try {
      fs.closeSync(fs.openSync(path, "wx", 0o600))
    } catch {
      // It exists (keep its mode), or cannot be created (opening it says why).
    }
  })
