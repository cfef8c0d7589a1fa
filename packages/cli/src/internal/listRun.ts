import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Traversal from "@vppkit/core/Traversal"
import * as VppClient from "@vppkit/core/VppClient"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { CommandError, IncompleteError, UsageError } from "../ExitCode.js"
import * as Resources from "../Resources.js"
import * as CheckpointFile from "./checkpointFile.js"
import { clientLayer } from "./client.js"
import * as Help from "./help.js"
import { type Config, defaultMaxPasses, type Flags } from "./listCommand.js"
import * as Output from "./output.js"
import * as Progress from "./progress.js"
import { withLogging } from "./reporting.js"
import { parseRetries } from "./globals.js"
import { applyRateLimit, warnIfServerReportsExpiry } from "./settings.js"

const incremental = Resources.all.filter((resource) => resource.checkpointField !== undefined).map((r) => r.name)

const usage = (message: string) => new UsageError({ message })

const fromEither = <A>(either: Either.Either<A, string>): Effect.Effect<A, UsageError> =>
  Either.match(either, { onLeft: (message) => Effect.fail(usage(message)), onRight: Effect.succeed })

const integerIn = (flag: string, text: string, min: number, max: number): Effect.Effect<number, UsageError> =>
  /^\d+$/.test(text.trim()) && Number(text) >= min && Number(text) <= max
    ? Effect.succeed(Number(text))
    : Effect.fail(usage(`--${flag} ${JSON.stringify(text)}: expected a whole number from ${min} to ${max}`))

const positive = (flag: string, text: string): Effect.Effect<number, UsageError> =>
  /^\d+$/.test(text.trim()) && Number(text) >= 1 && Number.isSafeInteger(Number(text))
    ? Effect.succeed(Number(text))
    : Effect.fail(usage(`--${flag} ${JSON.stringify(text)}: expected a whole number, 1 or more`))

/** `--fields a,b,c`: fields of the resource, each once, in the order given. */
const chooseFields = (resource: Resources.Resource, text: string): Either.Either<Array<Resources.Field>, string> => {
  const valid = `${resource.name} has ${resource.fields.map((field) => field.name).join(", ")}`
  const chosen: Array<Resources.Field> = []
  for (const name of text.split(",").map((part) => part.trim())) {
    const field = resource.fields.find((f) => f.name === name)
    if (field === undefined) {
      return Either.left(
        name.length === 0
          ? `--fields ${JSON.stringify(text)}: expected field names separated by commas; ${valid}`
          : `--fields: ${resource.name} has no field ${JSON.stringify(name)}; ${valid}`
      )
    }
    if (chosen.includes(field)) return Either.left(`--fields: ${name} is given twice`)
    chosen.push(field)
  }
  return Either.right(chosen)
}

/** Everything the flags ask for, checked before the token is read or a request is made. */
interface Plan {
  readonly resource: Resources.Resource
  readonly format: Output.Format
  /** The fields written: the chosen ones (`--fields`), a table's default columns, or every field. */
  readonly fields: ReadonlyArray<Resources.Field>
  /** Whether `--fields` chose them (JSON output is then reduced to them). */
  readonly chosenFields: boolean
  /** Stop after this many records (`--limit`). */
  readonly limit: number | undefined
  readonly concurrency: number
  readonly retries: number
  readonly filters: Record<string, unknown>
  readonly since: string | undefined
  /** The checkpoint file and the field it holds. */
  readonly checkpoint: { readonly path: string; readonly field: CheckpointFile.Field } | undefined
  /** What a drifted pass does: fail (exit 5), re-read up to `maxPasses` passes, or pass with a warning. */
  readonly drift: { readonly _tag: "fail" } | { readonly _tag: "consistent"; readonly maxPasses: number } | {
    readonly _tag: "allow"
  }
}

const plan = (resource: Resources.Resource, flags: Flags) =>
  Effect.gen(function*() {
    const format = yield* fromEither(Option.match(flags.format, {
      onNone: () => Either.right<Output.Format>(process.stdout.isTTY === true ? "table" : "ndjson"),
      onSome: (text) =>
        (Output.formats as ReadonlyArray<string>).includes(text)
          ? Either.right(text as Output.Format)
          : Either.left(`--format ${JSON.stringify(text)}: expected one of ${Output.formats.join(", ")}`)
    }))
    const fields = Option.isSome(flags.fields)
      ? yield* fromEither(chooseFields(resource, flags.fields.value))
      : format === "table"
      ? resource.briefFields
      : resource.fields
    const limit = Option.isSome(flags.limit) ? yield* positive("limit", flags.limit.value) : undefined
    if (limit !== undefined && flags.consistent) {
      return yield* usage(
        "give --limit or --consistent, not both (a pass stopped at the limit never reaches the end, where consistency is known)"
      )
    }
    const concurrency = Option.isSome(flags.concurrency) ? yield* integerIn("concurrency", flags.concurrency.value, 1, 5) : 5
    const retries = yield* parseRetries(flags.retries)
    const filters = yield* fromEither(Resources.parseFilters(resource, flags.filters))
    const field = resource.checkpointField
    if (field === undefined && (Option.isSome(flags.since) || Option.isSome(flags.checkpoint))) {
      const flag = Option.isSome(flags.since) ? "--since" : "--checkpoint"
      return yield* usage(
        `${flag}: Apple's API has no incremental query for ${resource.name}; it applies to ${incremental.join(", ")}`
      )
    }
    if (Option.isSome(flags.since) && Option.isSome(flags.checkpoint)) {
      return yield* usage("give --since or --checkpoint, not both (--checkpoint reads its since value from the file)")
    }
    if (Option.isSome(flags.since) && flags.since.value.trim().length === 0) {
      return yield* usage("--since: expected a checkpoint token, got an empty value")
    }
    if (flags.consistent && flags.allowDrift) {
      return yield* usage("give --consistent or --allow-drift, not both")
    }
    if (Option.isSome(flags.maxPasses) && !flags.consistent) return yield* usage("--max-passes applies to --consistent")
    const drift: Plan["drift"] = flags.consistent
      ? {
        _tag: "consistent",
        maxPasses: Option.isSome(flags.maxPasses)
          ? yield* integerIn("max-passes", flags.maxPasses.value, 1, 100)
          : defaultMaxPasses
      }
      : flags.allowDrift
      ? { _tag: "allow" }
      : { _tag: "fail" }
    const checkpoint = field !== undefined && Option.isSome(flags.checkpoint)
      ? { path: flags.checkpoint.value, field }
      : undefined
    const since = checkpoint !== undefined
      ? yield* CheckpointFile.read(checkpoint.path, resource, checkpoint.field)
      : Option.getOrUndefined(Option.map(flags.since, (since) => since.trim()))
    return {
      resource,
      format,
      fields,
      chosenFields: Option.isSome(flags.fields),
      limit,
      concurrency,
      retries,
      filters,
      since,
      checkpoint,
      drift
    } satisfies Plan
  })

const plural = (n: number, one: string, many: string) => `${Progress.count(n)} ${n === 1 ? one : many}`

const summary = (plan: Plan, outcome: Traversal.Outcome, millis: number, checkpoint: string | undefined): string => {
  const details = [
    plural(outcome.pages, "page", "pages"),
    plural(outcome.retries, "retry", "retries"),
    ...(outcome.passes > 1 ? [plural(outcome.passes, "pass", "passes")] : [])
  ]
  return `listed ${Progress.count(outcome.records)} ${plan.resource.name} records${
    plan.since === undefined ? "" : " changed since the checkpoint"
  } (${details.join(", ")}) in ${Progress.seconds(millis)}${
    checkpoint === undefined ? "" : `; checkpoint written to ${checkpoint}`
  }`
}

const driftWarning = (plan: Plan, outcome: Traversal.Outcome, consequence: string) =>
  `warning: ${plan.resource.name} changed while they were read: records may be missing or repeated (${
    plural(outcome.pages, "page", "pages")
  } read); ${consequence}`

const leftUnchanged = (plan: Plan) => plan.checkpoint === undefined ? "" : `; ${plan.checkpoint.path} was left unchanged`

/** The failure of a drifted pass (exit 5): what happened, and what to do. */
const incomplete = (plan: Plan, outcome: Traversal.Outcome) =>
  new IncompleteError({
    message: `incomplete: ${plan.resource.name} changed while they were read: records may be missing or repeated (${
      plural(outcome.pages, "page", "pages")
    } read)${leftUnchanged(plan)}; run again, add --consistent to re-read until a pass is consistent, ` +
      "or --allow-drift to accept a drifted pass"
  })

/** `--limit` was reached: the listing stops there (the traversal is interrupted), successfully. */
export class LimitReached extends Data.TaggedError("LimitReached")<{
  readonly records: number
  readonly pages: number
}> {}

/** The output of one pass, and its outcome; fails with {@link LimitReached} once `--limit` records are written. */
const readPass = (plan: Plan, writer: Output.Writer, progress: Progress.Progress) => {
  let records = 0
  let pages = 0
  const onPage = (page: Traversal.Page<Resources.JsonRecord>) =>
    Effect.suspend(() => {
      pages++
      const room = plan.limit === undefined ? page.records.length : plan.limit - records
      const taken = page.records.length > room ? { ...page, records: page.records.slice(0, room) } : page
      records += taken.records.length
      const reached = plan.limit !== undefined && records >= plan.limit
      return Effect.zipRight(progress.page(taken), writer.records(taken.records)).pipe(
        Effect.zipRight(reached ? Effect.fail(new LimitReached({ records, pages })) : Effect.void)
      )
    })
  return plan.resource.traverse({ filters: plan.filters, concurrency: plan.concurrency, since: plan.since }).run(onPage).pipe(
    Effect.catchTag("CheckpointUnusableError", (error) =>
      Effect.fail(
        new CommandError({
          message: `${plan.resource.name}: the server no longer accepts the checkpoint (${
            error.errorNumber ?? `HTTP ${error.status}`
          }): ${
            plan.checkpoint === undefined
              ? "list without --since for every record"
              : `delete ${plan.checkpoint.path} for a full run, which writes a new checkpoint`
          }`
        })
      ))
  )
}

/**
 * `--consistent`: passes are written to a temporary file (in the system's temporary directory, removed with the
 * scope) until one is consistent; that one is then copied to stdout. Nothing reaches stdout otherwise.
 */
const readConsistent = (plan: Plan, maxPasses: number, stdout: Output.Sink, progress: Progress.Progress) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const paths = yield* Path.Path
    const directory = yield* fs.makeTempDirectoryScoped({ prefix: "vppkit-list-" }).pipe(
      Effect.mapError((error) => new CommandError({ message: `cannot create a temporary directory: ${error.message}` }))
    )
    const spill = paths.join(directory, `${plan.resource.name}.${plan.format}`)
    const spillError = (error: PlatformError.PlatformError) =>
      new Output.OutputClosed({ code: undefined, message: `the temporary file ${spill}: ${error.message}` })
    const outcome = yield* Traversal.untilConsistent(() =>
      Effect.scoped(Effect.gen(function*() {
        const file = yield* fs.open(spill, { flag: "w" }).pipe(Effect.mapError(spillError))
        const encoder = new TextEncoder()
        const sink: Output.Sink = {
          // An empty chunk (a page without records) writes nothing: writeAll refuses a zero-length write.
          write: (chunk) => chunk.length === 0 ? Effect.void : Effect.mapError(file.writeAll(encoder.encode(chunk)), spillError),
          flush: Effect.void
        }
        const writer = makeWriter(plan, sink)
        const outcome = yield* readPass(plan, writer, progress)
        yield* writer.end
        return outcome
      })), {
      maxPasses,
      onDrift: (_, passes) => Effect.logDebug(`${plan.resource.name}: pass ${passes} drifted, reading again`)
    })
    if (outcome.consistency !== "consistent") {
      return yield* new IncompleteError({
        message: `incomplete: ${plan.resource.name} changed while they were read, in each of ${
          plural(outcome.passes, "pass", "passes")
        }: nothing was written to stdout${leftUnchanged(plan)}; run again later, raise --max-passes, ` +
          "or use --allow-drift to accept a drifted pass"
      })
    }
    yield* progress.stop
    yield* fs.stream(spill).pipe(
      Stream.decodeText(),
      Stream.mapError(spillError),
      Stream.runForEach(stdout.write)
    )
    yield* stdout.flush
    return outcome
  })

/**
 * The writer of the plan's format and fields. A table fits the terminal's width (80 columns when stdout is not
 * a terminal); its header is bold where colour is in order ({@link Help.useColor}: a terminal, no `NO_COLOR`).
 */
const makeWriter = (plan: Plan, sink: Output.Sink): Output.Writer =>
  Output.make(plan.format, plan.fields, sink, {
    color: Help.useColor(process.stdout),
    width: process.stdout.isTTY === true && process.stdout.columns > 0 ? process.stdout.columns : 80,
    project: plan.chosenFields
  })

/** The summary of a listing stopped by `--limit`: no drift verdict, no checkpoint. */
const limitedSummary = (plan: Plan, reached: LimitReached, retries: number, millis: number): string =>
  `${
    summary(
      plan,
      { records: reached.records, pages: reached.pages, retries, passes: 1, consistency: "consistent", checkpoint: undefined },
      millis,
      undefined
    )
  }; stopped at --limit ${Progress.count(reached.records)}${
    plan.checkpoint === undefined ? "" : `: ${plan.checkpoint.path} was left unchanged`
  }`

const run = (plan: Plan, quiet: boolean, sink: Output.Sink) =>
  Effect.gen(function*() {
    const started = Date.now()
    // Records streamed to the terminal the bar is drawn on would tear it: the bar is drawn only when stdout is
    // elsewhere, or under --consistent (the records are printed after the bar is gone).
    const interactive = process.stderr.isTTY === true &&
      !(process.stdout.isTTY === true && plan.drift._tag !== "consistent")
    const progress = yield* Progress.make({ label: plan.resource.name, quiet, interactive })
    // Records stream as they arrive, except under --consistent (a pass reaches stdout only once it is known to
    // be consistent). A drifted pass fails the run (exit 5) unless --allow-drift, and never advances the
    // checkpoint file. A listing stopped by --limit is partial: it ends here, successfully, without either.
    let outcome: Traversal.Outcome
    if (plan.drift._tag === "consistent") {
      outcome = yield* readConsistent(plan, plan.drift.maxPasses, sink, progress)
    } else {
      const writer = makeWriter(plan, sink)
      const read = yield* readPass(plan, writer, progress).pipe(
        Effect.map(Either.right),
        Effect.catchTag("LimitReached", (reached) => Effect.succeed(Either.left(reached)))
      )
      yield* progress.stop
      yield* writer.end
      if (Either.isLeft(read)) {
        const retries = (yield* (yield* VppClient.VppClient).stats).retries
        return yield* progress.finish(limitedSummary(plan, read.left, retries, Date.now() - started))
      }
      outcome = read.right
    }
    yield* warnIfServerReportsExpiry(outcome.tokenExpiresAt, quiet)
    const drifted = outcome.consistency !== "consistent"
    if (drifted && plan.drift._tag === "allow") {
      yield* Console.error(driftWarning(
        plan,
        outcome,
        plan.checkpoint === undefined ? "run again for a consistent list" : `${plan.checkpoint.path} was left unchanged: run again`
      ))
    }
    // A drifted pass read its pages at different versions. A later delta from page 0's versionId would bring
    // every record *written* after page 0, but under live pages a write also shifts the records behind it: an
    // unchanged record pushed across a page boundary onto a page already read is missed, and no delta ever
    // brings it back (it did not change). So the file keeps the old checkpoint and the next run repeats this
    // one, rather than advance past a gap.
    let written: string | undefined
    if (plan.checkpoint !== undefined && !drifted) {
      if (outcome.checkpoint === undefined) {
        yield* Console.error(`warning: the server sent no checkpoint; ${plan.checkpoint.path} was left unchanged`)
      } else {
        yield* CheckpointFile.write(
          plan.checkpoint.path,
          CheckpointFile.render(plan.resource, plan.checkpoint.field, outcome.checkpoint)
        )
        written = plan.checkpoint.path
      }
    }
    yield* progress.finish(summary(plan, outcome, Date.now() - started, written))
    if (drifted && plan.drift._tag !== "allow") return yield* incomplete(plan, outcome)
  })

/** The request rate of the flags, then the listing of a checked plan into `sink`, with the `VppClient` in context. */
const execute = (checked: Plan, flags: Flags, quiet: boolean, sink: Output.Sink) =>
  Effect.zipRight(applyRateLimit(flags.maxRequestsPerSecond), run(checked, quiet, sink)).pipe(Effect.scoped)

/**
 * Lists a resource as `vppkit list` does — the same checks of the flags, traversal, drift handling, output
 * formats and checkpoint file — for any resource view (one of `Resources.all`, or `Resources.fromDescriptor` of
 * another descriptor), with the `VppClient` in context (the command builds one from its global flags, with the
 * plan's concurrency and retries) and the output written to `sink`.
 */
export const list = (
  resource: Resources.Resource,
  flags: Flags,
  options: { readonly quiet?: boolean; readonly sink: Output.Sink }
) => Effect.flatMap(plan(resource, flags), (checked) => execute(checked, flags, options.quiet ?? false, options.sink))

/** The work of `vppkit list <resource>` (listCommand.ts), once its command line is parsed. */
export const runList = ({ baseUrl, logFormat, logLevel, quiet, resource, tokenFile, verbose, ...flags }: Config) =>
  Effect.gen(function*() {
    const checked = yield* plan(yield* fromEither(Resources.byName(resource)), flags)
    yield* execute(checked, flags, quiet, Output.streamSink(process.stdout)).pipe(
      Effect.provide(clientLayer({ baseUrl, tokenFile, quiet, verbose, logFormat, logLevel }, {
        concurrency: checked.concurrency,
        retry: { maxRetries: checked.retries }
      }))
    )
  }).pipe(
    withLogging({ logFormat, logLevel }),
    // The reader went away (`vppkit list … | head`): that ends the listing quietly; a write that failed otherwise is an error.
    Output.endWhenReaderCloses
  )
