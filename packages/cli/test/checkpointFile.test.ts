import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as CheckpointFile from "../src/internal/checkpointFile.js"
import * as Resources from "../src/Resources.js"

const users = Either.getOrThrow(Resources.byName("users"))
const legacyUsers = Either.getOrThrow(Resources.byName("legacy-users"))

const withDirectory = <A, E>(f: (directory: string) => Effect.Effect<A, E, NodeContext.NodeContext>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "vppkit-checkpoint-"))),
    f,
    (directory) => Effect.sync(() => fs.rmSync(directory, { recursive: true, force: true }))
  ).pipe(Effect.provide(NodeContext.layer))

const readMessage = (file: string, resource: Resources.Resource, field: CheckpointFile.Field) =>
  Effect.map(Effect.flip(CheckpointFile.read(file, resource, field)), (error) => {
    assert.strictEqual(error._tag, "UsageError")
    assert.include(error.message, file, "the message names the file")
    return error.message
  })

describe("checkpoint files", () => {
  it.effect("a missing or empty file means a full run", () =>
    withDirectory((directory) =>
      Effect.gen(function*() {
        const file = path.join(directory, "users.json")
        assert.isUndefined(yield* CheckpointFile.read(file, users, "versionId"))
        fs.writeFileSync(file, " \n")
        assert.isUndefined(yield* CheckpointFile.read(file, users, "versionId"))
      })
    ))

  it.effect("written atomically, read back; no temporary file is left", () =>
    withDirectory((directory) =>
      Effect.gen(function*() {
        const file = path.join(directory, "users.json")
        yield* CheckpointFile.write(file, CheckpointFile.render(users, "versionId", "v-1"))
        assert.deepStrictEqual(JSON.parse(fs.readFileSync(file, "utf8")), { versionId: "v-1", resource: "users" })
        yield* CheckpointFile.write(file, CheckpointFile.render(users, "versionId", "v-2"))
        assert.strictEqual(yield* CheckpointFile.read(file, users, "versionId"), "v-2")
        assert.deepStrictEqual(fs.readdirSync(directory), ["users.json"])
        // A file written by hand, without `resource`, is accepted.
        fs.writeFileSync(file, "{\"versionId\": \"v-3\"}")
        assert.strictEqual(yield* CheckpointFile.read(file, users, "versionId"), "v-3")
      })
    ))

  it.effect("a file that is not a checkpoint of the resource is a usage error naming it and what is wrong", () =>
    withDirectory((directory) =>
      Effect.gen(function*() {
        const file = path.join(directory, "cp.json")
        fs.writeFileSync(file, "{not json")
        assert.include(yield* readMessage(file, users, "versionId"), "not JSON")
        fs.writeFileSync(file, "[1]")
        assert.include(yield* readMessage(file, users, "versionId"), "not a JSON object")
        fs.writeFileSync(file, "{}")
        assert.include(yield* readMessage(file, users, "versionId"), "no \"versionId\"")
        fs.writeFileSync(file, "{\"versionId\": 12}")
        assert.include(yield* readMessage(file, users, "versionId"), "not a non-empty string")
        fs.writeFileSync(file, CheckpointFile.render(users, "versionId", "v-1"))
        assert.include(yield* readMessage(file, legacyUsers, "sinceModifiedToken"), "checkpoint of users, not legacy-users")
        fs.writeFileSync(file, "{\"versionId\": \"v-1\"}")
        assert.include(yield* readMessage(file, legacyUsers, "sinceModifiedToken"), "holds a \"versionId\"")
        assert.include(yield* readMessage(directory, users, "versionId"), "cannot read it")
        assert.include(yield* readMessage(path.join(directory, "nowhere", "cp.json"), users, "versionId"), "directory")
      })
    ))

  it.effect("a failed write leaves the old checkpoint and no temporary file", () =>
    withDirectory((directory) =>
      Effect.gen(function*() {
        const file = path.join(directory, "cp.json")
        yield* CheckpointFile.write(file, CheckpointFile.render(users, "versionId", "v-1"))
        // Renaming a file over a directory fails.
        const blocked = path.join(directory, "blocked")
        fs.mkdirSync(path.join(blocked, "inner"), { recursive: true })
        const error = yield* Effect.flip(CheckpointFile.write(blocked, CheckpointFile.render(users, "versionId", "v-2")))
        assert.strictEqual(error._tag, "CommandError")
        assert.include(error.message, blocked)
        assert.deepStrictEqual(fs.readdirSync(directory).sort(), ["blocked", "cp.json"])
        assert.strictEqual(yield* CheckpointFile.read(file, users, "versionId"), "v-1")
      })
    ))
})
