/**
 * PostgreSQL for the bench items 7 and 8, through `pg` (node-postgres) directly: the driver under
 * `@effect/sql-pg`, already installed with it (no types of its own are installed, so the little used here is
 * typed below). `COPY … FROM STDIN` goes through a query object of our own (`CopyFrom`): `pg` hands the
 * connection to the active query when the server asks for the copy data, which is what `pg-copy-streams`
 * does too, without adding it.
 *
 * `VPPKIT_BENCH_PG_URL` names the server (a database on it, as a user that may `CREATE DATABASE`), by default
 * postgres://postgres@127.0.0.1:5432/postgres.
 */
import * as crypto from "node:crypto"
import { createRequire } from "node:module"

export const serverUrl = process.env["VPPKIT_BENCH_PG_URL"] !== undefined && process.env["VPPKIT_BENCH_PG_URL"] !== ""
  ? process.env["VPPKIT_BENCH_PG_URL"]
  : "postgres://postgres@127.0.0.1:5432/postgres"

export interface Result<R> {
  readonly rows: Array<R>
  readonly rowCount: number | null
}

interface Connection {
  readonly stream: NodeJS.WritableStream & { readonly writableNeedDrain: boolean }
  query(text: string): void
  sendCopyFromChunk(chunk: Buffer): void
  endCopyFrom(): void
  sendCopyFail(message: string): void
}

/** What `pg`'s `Client#query` accepts besides a text: an object that submits itself and handles the replies. */
interface Submittable {
  submit(connection: Connection): void
}

export interface Client {
  connect(): Promise<void>
  query<R = Record<string, unknown>>(text: string, values?: ReadonlyArray<unknown>): Promise<Result<R>>
  query<R = Array<unknown>>(config: { text: string; values?: ReadonlyArray<unknown>; rowMode: "array" }): Promise<Result<R>>
  query(submittable: Submittable): void
  end(): Promise<void>
}

const pg = createRequire(import.meta.url)("pg") as {
  readonly Client: new(config: { connectionString: string; application_name?: string }) => Client
}

/** A connected client of `url`; `use` runs with it and it is closed afterwards. */
export const withClient = async <A>(url: string, use: (client: Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: url, application_name: "vppkit-bench" })
  await client.connect()
  try {
    return await use(client)
  } finally {
    await client.end()
  }
}

/** `url` with another database (its path). */
export const withDatabase = (url: string, database: string): string => {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

/** `url` with `search_path` set to `schema` for every connection (libpq's `options`), as the tests do. */
export const withSchema = (url: string, schema: string): string => {
  const parsed = new URL(url)
  parsed.searchParams.set("options", `-c search_path=${schema}`)
  return parsed.toString()
}

export const quote = (name: string): string => `"${name.replaceAll("\"", "\"\"")}"`

/**
 * A database of its own on the server for `use`: `CREATE DATABASE vppkit_bench_<random>`, dropped
 * `WITH (FORCE)` afterwards, whatever happened. `use` gets its URL.
 */
export const withFreshDatabase = async <A>(use: (url: string) => Promise<A>): Promise<A> => {
  const name = `vppkit_bench_${crypto.randomBytes(6).toString("hex")}`
  await withClient(serverUrl, (client) => client.query(`CREATE DATABASE ${quote(name)}`))
  try {
    return await use(withDatabase(serverUrl, name))
  } finally {
    await withClient(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`))
  }
}

/**
 * `COPY … FROM STDIN` (text format) of the chunks `chunks()` yields, each a buffer of whole lines, sent as they
 * come with the socket's back-pressure respected. Answers the rows the server reports copied.
 */
export const copyFrom = (client: Client, text: string, chunks: () => Iterable<Buffer>): Promise<number> =>
  new Promise((resolve, reject) => {
    let failure: unknown
    let rows = 0
    let done = false
    const settle = () => {
      if (done) return
      done = true
      if (failure === undefined) resolve(rows)
      else reject(failure)
    }
    const query = {
      submit: (connection: Connection) => connection.query(text),
      handleCopyInResponse: (connection: Connection) => {
        const iterator = chunks()[Symbol.iterator]()
        const pump = () => {
          try {
            for (;;) {
              const next = iterator.next()
              if (next.done === true) {
                connection.endCopyFrom()
                return
              }
              connection.sendCopyFromChunk(next.value)
              if (connection.stream.writableNeedDrain) {
                connection.stream.once("drain", pump)
                return
              }
            }
          } catch (error) {
            failure = error
            connection.sendCopyFail(error instanceof Error ? error.message : String(error))
          }
        }
        pump()
      },
      handleCommandComplete: (message: { readonly text?: string }) => {
        rows = Number(/^COPY (\d+)/.exec(message.text ?? "")?.[1] ?? Number.NaN)
      },
      handleReadyForQuery: settle,
      handleError: (error: unknown) => {
        failure ??= error
        settle()
      },
      handleRowDescription: () => {},
      handleDataRow: () => {},
      handleEmptyQuery: () => {},
      handlePortalSuspended: () => {},
      handleCopyData: () => {}
    }
    client.query(query)
  })

/** A value in COPY's text format: `\N` for NULL, backslash, tab, newline and carriage return escaped. */
export const copyValue = (value: unknown): string => {
  if (value === null || value === undefined) return "\\N"
  const text = typeof value === "string" ? value : String(value)
  return /[\\\t\n\r]/.test(text)
    ? text.replace(/[\\\t\n\r]/g, (c) => c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r")
    : text
}
