import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import { CommandError, UsageError } from "../ExitCode.js"
import type * as Resources from "../Resources.js"

/**
 * The checkpoint file of `vppkit list --checkpoint FILE`: a JSON object whose `versionId` (v2) or
 * `sinceModifiedToken` (legacy) is the since value of the next run, e.g.
 * `{"versionId":"…","resource":"users"}`. `resource` guards against handing one resource's checkpoint to
 * another (files without it are accepted).
 */
export type Field = NonNullable<Resources.Resource["checkpointField"]>

const otherField: Record<Field, Field> = { versionId: "sinceModifiedToken", sinceModifiedToken: "versionId" }

const reasonOf = (error: unknown): string => {
  const reason = typeof error === "object" && error !== null && "reason" in error ? error.reason : undefined
  switch (reason) {
    case "NotFound":
      return "no such file or directory"
    case "PermissionDenied":
      return "permission denied"
    case "BadResource":
      return "not a regular file"
    case "AlreadyExists":
      return "already exists"
    default: {
      const description = typeof error === "object" && error !== null && "description" in error
        ? error.description
        : undefined
      return typeof description === "string" && description.length > 0
        ? description
        : typeof reason === "string"
        ? reason
        : "unknown error"
    }
  }
}

const isNotFound = (error: unknown): boolean =>
  typeof error === "object" && error !== null && "reason" in error && error.reason === "NotFound"

/**
 * The since value in a checkpoint file, or `undefined` (a full run) when the file does not exist or is empty.
 * Anything else that is not a checkpoint of this resource is a {@link UsageError} naming the file and the
 * problem. The file's directory must exist, so that a run does not fail only at its end.
 */
export const read = (
  path: string,
  resource: Resources.Resource,
  field: Field
): Effect.Effect<string | undefined, UsageError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const paths = yield* Path.Path
    const usage = (problem: string) => new UsageError({ message: `--checkpoint ${path}: ${problem}` })
    const directory = paths.dirname(paths.resolve(path))
    const info = yield* fs.stat(directory).pipe(
      Effect.mapError((error) => usage(`cannot use the directory ${directory}: ${reasonOf(error)}`))
    )
    if (info.type !== "Directory") return yield* usage(`${directory} is not a directory`)
    const text = yield* fs.readFileString(path).pipe(
      Effect.map((text): string | undefined => text),
      Effect.catchAll((error) =>
        isNotFound(error) ? Effect.succeed(undefined) : Effect.fail(usage(`cannot read it: ${reasonOf(error)}`))
      )
    )
    if (text === undefined || text.trim().length === 0) return undefined
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      return yield* usage(`not JSON (expected {"${field}": "…"}): fix it, or delete it for a full run`)
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return yield* usage(`not a JSON object (expected {"${field}": "…"}): fix it, or delete it for a full run`)
    }
    const record = json as Record<string, unknown>
    const owner = record["resource"]
    if (typeof owner === "string" && owner !== resource.name) {
      return yield* usage(`it is the checkpoint of ${owner}, not ${resource.name}: use one checkpoint file per resource`)
    }
    const value = record[field]
    if (typeof value === "string" && value.length > 0) return value
    if (value !== undefined) return yield* usage(`its "${field}" is not a non-empty string`)
    if (record[otherField[field]] !== undefined) {
      return yield* usage(
        `it holds a "${otherField[field]}", but ${resource.name} needs a "${field}": use one checkpoint file per resource`
      )
    }
    return yield* usage(`it has no "${field}" field: fix it, or delete it for a full run`)
  })

/** The content written for a checkpoint. */
export const render = (resource: Resources.Resource, field: Field, value: string): string =>
  JSON.stringify({ [field]: value, resource: resource.name }) + "\n"

/**
 * Replaces the file atomically: the content goes to a temporary file in the same directory, is synced to
 * disk, and is renamed over the file, so a reader (or a crash) sees the old checkpoint or the new one, never
 * a mix. The directory is synced too where the platform allows it, so the rename itself survives a crash.
 */
export const write = (
  path: string,
  content: string
): Effect.Effect<void, CommandError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const paths = yield* Path.Path
    const directory = paths.dirname(paths.resolve(path))
    const temporary = paths.join(
      directory,
      `.${paths.basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`
    )
    const fail = (what: string) => (error: unknown) =>
      new CommandError({ message: `cannot write the checkpoint ${path}: ${what}: ${reasonOf(error)}` })
    yield* Effect.scoped(Effect.gen(function*() {
      const file = yield* fs.open(temporary, { flag: "wx", mode: 0o644 }).pipe(Effect.mapError(fail(`creating ${temporary}`)))
      yield* file.writeAll(new TextEncoder().encode(content)).pipe(Effect.mapError(fail(`writing ${temporary}`)))
      yield* file.sync.pipe(Effect.mapError(fail(`syncing ${temporary}`)))
    })).pipe(
      Effect.zipRight(fs.rename(temporary, path).pipe(Effect.mapError(fail("renaming the new file over it")))),
      Effect.tapError(() => Effect.ignore(fs.remove(temporary)))
    )
    // Best effort: some platforms and file systems cannot open or sync a directory.
    yield* Effect.scoped(Effect.flatMap(fs.open(directory, { flag: "r" }), (dir) => dir.sync)).pipe(Effect.ignore)
  })
