import type * as VppClient from "@vppkit/core/VppClient"
import type * as Sync from "@vppkit/sync/Sync"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Progress from "./progress.js"

/**
 * What `sync` and `demo` show of a run on stderr: a progress bar per resource (on a terminal) ending in the
 * resource's one-line summary ({@link describe}), and the run's notices; nothing when quiet.
 */
export const hooks = (options: { readonly quiet: boolean; readonly interactive?: boolean | undefined }): Pick<
  Sync.Options<VppClient.VppClient>,
  "progress" | "onNotice"
> => ({
  progress: (resource) =>
    Effect.map(
      Progress.make({
        label: resource.name,
        quiet: options.quiet,
        ...(options.interactive !== undefined ? { interactive: options.interactive } : {})
      }),
      (progress): Sync.Progress => ({ page: progress.page, finish: (summary) => progress.finish(describe(summary)) })
    ),
  onNotice: (notice) => options.quiet ? Effect.void : Console.error(noticeLine(notice))
})

/** The line of a notice of a run. */
export const noticeLine = (notice: Sync.Notice): string => {
  switch (notice._tag) {
    case "CheckpointRefused":
      return `${notice.resource}: the server no longer accepts the checkpoint (${
        notice.error.errorNumber ?? `HTTP ${notice.error.status}`
      }): syncing in full`
    case "NotSynced":
      return `${notice.resource}: not synced (its previous sync is kept)`
    case "Interrupted":
      return `${notice.resource}: interrupted, rolled back (its previous sync is kept)`
  }
}

const plural = (n: number, one: string, many = `${one}s`) => `${Progress.count(n)} ${n === 1 ? one : many}`

/**
 * The one-line summary of a run, e.g. `assignments: full, 12,345 records (3 deleted), 25 pages, 4 retries,
 * consistent, 2.1 s`. A full run of a resource with deltas none of whose passes was consistent stored no
 * checkpoint, so the next run is full again: its line says so.
 */
export const describe = (summary: Sync.Summary): string => {
  const mode = summary.reason === "checkpoint-unusable" ? "full (the checkpoint was refused)" : summary.mode
  const deleted = summary.deleted > 0 ? ` (${Progress.count(summary.deleted)} deleted)` : ""
  const consistency = summary.consistency === "consistent"
    ? "consistent"
    : summary.mode === "full" && summary.checkpoint === "none" && summary.reason !== "no-incremental"
    ? "drifted: no checkpoint stored: the data kept changing; the next run is full again"
    : summary.mode === "full"
    ? "drifted: deletions reconciled by the next consistent full sync"
    : "drifted: checkpoint kept, the next run fetches this delta again"
  const passes = summary.passes > 1 ? `, ${summary.passes} passes` : ""
  return `${summary.resource}: ${mode}, ${plural(summary.records, "record")}${deleted}, ${plural(summary.pages, "page")}, ${
    plural(summary.retries, "retry", "retries")
  }${passes}, ${consistency}, ${Progress.seconds(summary.millis)}`
}
