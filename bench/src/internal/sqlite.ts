/**
 * better-sqlite3 used directly (the driver under `@effect/sql-sqlite-node`), for item 4's raw baseline. The
 * package ships no types of its own; the little used here is typed by hand.
 */
import { createRequire } from "node:module"

export interface Statement {
  readonly run: (...params: ReadonlyArray<unknown>) => unknown
  readonly all: (...params: ReadonlyArray<unknown>) => Array<unknown>
  readonly raw: (raw?: boolean) => Statement
}

export interface Database {
  readonly prepare: (sql: string) => Statement
  readonly exec: (sql: string) => void
  readonly pragma: (pragma: string) => unknown
  readonly close: () => void
}

type Open = new(filename: string, options?: { readonly readonly?: boolean }) => Database

export const open: Open = createRequire(import.meta.url)("better-sqlite3") as Open
