import { assert, describe, it } from "@effect/vitest"
import * as VppError from "@vppkit/core/VppError"
import type * as Sync from "@vppkit/sync/Sync"
import * as SyncOutput from "../src/internal/syncOutput.js"

/** A full run of assignments none of whose three passes was consistent. */
const drifted: Sync.Summary = {
  resource: "assignments",
  location: "2049025000000001",
  mode: "full",
  reason: "first",
  records: 1234,
  deleted: 0,
  rows: 1234,
  pages: 25,
  retries: 0,
  passes: 3,
  consistency: "drifted",
  checkpoint: "none",
  millis: 2100
}

describe("sync's lines on stderr", () => {
  it("a full run that stored no checkpoint says the next run is full again; other drifted runs say what waits", () => {
    assert.strictEqual(
      SyncOutput.describe(drifted),
      "assignments: full, 1,234 records, 25 pages, 0 retries, 3 passes, drifted: no checkpoint stored: the data kept changing; the next run is full again, 2.1 s"
    )
    assert.include(SyncOutput.describe({ ...drifted, checkpoint: "kept" }), "drifted: deletions reconciled by the next consistent full sync")
    assert.include(SyncOutput.describe({ ...drifted, mode: "incremental", reason: undefined, checkpoint: "kept" }), "drifted: checkpoint kept")
    // A resource without deltas never stores a checkpoint: its drifted line does not blame the drift for it.
    assert.notInclude(SyncOutput.describe({ ...drifted, resource: "assets", reason: "no-incremental" }), "no checkpoint stored")
    const consistent = SyncOutput.describe({ ...drifted, consistency: "consistent", checkpoint: "advanced", passes: 1, deleted: 3, retries: 1 })
    assert.strictEqual(consistent, "assignments: full, 1,234 records (3 deleted), 25 pages, 1 retry, consistent, 2.1 s")
  })

  it("notices name the resource and what happened", () => {
    const error = new VppError.CheckpointUnusableError({ endpoint: "/getVPPUsersSrv", status: 200, errorNumber: 9629 })
    assert.strictEqual(
      SyncOutput.noticeLine({ _tag: "CheckpointRefused", resource: "legacy-users", error }),
      "legacy-users: the server no longer accepts the checkpoint (9629): syncing in full"
    )
    assert.strictEqual(SyncOutput.noticeLine({ _tag: "NotSynced", resource: "users" }), "users: not synced (its previous sync is kept)")
    assert.strictEqual(
      SyncOutput.noticeLine({ _tag: "Interrupted", resource: "users" }),
      "users: interrupted, rolled back (its previous sync is kept)"
    )
  })
})
