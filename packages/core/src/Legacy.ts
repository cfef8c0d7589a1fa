/**
 * The legacy v1 batch services: Get Licenses (`getVPPLicensesSrv`) and Get Users (`getVPPUsersSrv`).
 * Each request is a POST with a JSON body; the client adds the `sToken` to the body.
 *
 * Apple's rules, as implemented here:
 *
 * - The first request carries no `batchToken` (or a `sinceModifiedToken`, for an incremental walk); while
 *   batches remain, each response carries a `batchToken` for the next one.
 * - The end is **only** a response carrying a `sinceModifiedToken` — never the absence of a `batchToken`,
 *   never an empty batch. Zero-record batches are normal: the walk moves on.
 * - A response with neither token and no error is retried with the same request (same `batchToken`, same
 *   `overrideIndex`), with backoff, a bounded number of times; then the walk fails with a `ProtocolError`.
 * - Errors come back as HTTP 200 bodies with `status: -1`: the client turns them into typed errors.
 * - 9633 ("data for a batch token could not be recovered") restarts the walk from its first request, a
 *   bounded number of times (`Outcome.passes` counts the passes).
 * - A delta walk whose first request (the one carrying the `sinceModifiedToken`) is refused with 9602
 *   (invalid argument), 9629 (the token is not this sToken's) or 9633 (its data is gone) fails with
 *   {@link VppError.CheckpointUnusableError}, as 9721 does on v2: the checkpoint is unusable, a full walk is
 *   needed, and the refused token is not sent again. A failure after the first request is not about the
 *   checkpoint (a 9633 there restarts the delta from the same token).
 * - Parallel mode: after the first batch with records, `overrideIndex` 1..`totalBatchCount` (a JSON
 *   string) with that batch's `batchToken`, at most 5 at once. Apple leaves open whether `overrideIndex` 1
 *   repeats the first batch or is the next one: both are handled (see below).
 *
 * **Each record state is delivered once.** Every record's natural key ({@link licenseKey}, {@link userKey})
 * is kept with a fingerprint of its content: a record seen again unchanged is dropped; one that changed is
 * delivered again (and the run is `drifted`). This is what makes parallel mode correct under both
 * `overrideIndex` semantics — requesting 1..`totalBatchCount` covers every batch under either, and the
 * repeat of the first batch (detected by comparing `overrideIndex` 1's keys with the first batch's) is
 * dropped — and what keeps a walk restarted after 9633 from delivering the lost pass's records twice.
 * A repeat that none of this explains (the server served a record twice in one pass) marks the run
 * `drifted`.
 *
 * The outcome's checkpoint is the `sinceModifiedToken`: pass it as `sinceModifiedToken` to the next run to
 * get the records modified since (the token encodes the original filters; `adamId`/`pricingParam`/
 * `includeRetired` of a request carrying a token are ignored by Apple).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { oneOf, PricingParam, UserStatus } from "./Common.js"
import * as Envelope from "./internal/envelope.js"
import { fingerprint } from "./internal/fingerprint.js"
import * as Resource from "./Resource.js"
import * as RetryPolicy from "./RetryPolicy.js"
import * as Traversal from "./Traversal.js"
import * as VppClient from "./VppClient.js"
import * as VppError from "./VppError.js"

/**
 * `totalBatchCount` is documented as int32 but sent as a JSON string (`"2"`); both decode to a number.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TotalBatchCount = Schema.Union(
  Schema.NonNegativeInt,
  Schema.compose(Schema.NumberFromString, Schema.NonNegativeInt)
)

/**
 * @since 0.1.0
 * @category schemas
 */
export class VppLocation extends Schema.Class<VppLocation>("@vppkit/core/VppLocation")({
  locationId: Schema.optional(Schema.Number),
  locationName: Schema.optional(Schema.String)
}) {}

/**
 * @since 0.1.0
 * @category schemas
 */
export const LicenseStatus = oneOf("Associated", "Available", "Refunded")

/**
 * A licence (Apple's `VppLicense`). Apple marks every field optional and advises against relying on licence
 * ids; the natural key is nevertheless the licence id ({@link licenseKey}).
 *
 * @since 0.1.0
 * @category schemas
 */
export const VppLicense = Schema.Struct({
  licenseId: Schema.optionalWith(Schema.Number, { exact: true }),
  licenseIdStr: Schema.optionalWith(Schema.String, { exact: true }),
  adamId: Schema.optionalWith(Schema.Number, { exact: true }),
  adamIdStr: Schema.optionalWith(Schema.String, { exact: true }),
  pricingParam: Schema.optionalWith(PricingParam, { exact: true }),
  /** `7` macOS software, `8` App Store app, `10` book. */
  productTypeId: Schema.optionalWith(Schema.Number, { exact: true }),
  productTypeName: Schema.optionalWith(Schema.String, { exact: true }),
  isIrrevocable: Schema.optionalWith(Schema.Boolean, { exact: true }),
  status: Schema.optionalWith(LicenseStatus, { exact: true }),
  clientUserIdStr: Schema.optionalWith(Schema.String, { exact: true }),
  userId: Schema.optionalWith(Schema.Number, { exact: true }),
  userIdStr: Schema.optionalWith(Schema.String, { exact: true }),
  /** Only when the user is associated with an Apple Account. */
  itsIdHash: Schema.optionalWith(Schema.String, { exact: true }),
  serialNumber: Schema.optionalWith(Schema.String, { exact: true })
}).annotations({ identifier: "VppLicense" })

/**
 * @since 0.1.0
 * @category models
 */
export interface VppLicense extends Schema.Schema.Type<typeof VppLicense> {}

/**
 * A user (Apple's `VppUser`) with the licences assigned to it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const VppUser = Schema.Struct({
  userId: Schema.optionalWith(Schema.Number, { exact: true }),
  clientUserIdStr: Schema.optionalWith(Schema.String, { exact: true }),
  email: Schema.optionalWith(Schema.String, { exact: true }),
  status: Schema.optionalWith(UserStatus, { exact: true }),
  itsIdHash: Schema.optionalWith(Schema.String, { exact: true }),
  inviteCode: Schema.optionalWith(Schema.String, { exact: true }),
  inviteUrl: Schema.optionalWith(Schema.String, { exact: true }),
  licenses: Schema.optionalWith(Schema.Array(VppLicense), { exact: true })
}).annotations({ identifier: "VppUser" })

/**
 * @since 0.1.0
 * @category models
 */
export interface VppUser extends Schema.Schema.Type<typeof VppUser> {}

/**
 * The fields of every batched legacy response. Tokens sent as `null` count as absent.
 *
 * @since 0.1.0
 * @category schemas
 */
export const BatchFields = {
  status: Schema.optional(Schema.Number),
  batchToken: Schema.optional(Schema.NullOr(Schema.String)),
  sinceModifiedToken: Schema.optional(Schema.NullOr(Schema.String)),
  batchCount: Schema.optional(Schema.Number),
  totalBatchCount: Schema.optional(TotalBatchCount),
  /** An estimate, on the response to the first request only. */
  totalCount: Schema.optional(Schema.Number),
  clientContext: Schema.optional(Schema.String),
  expirationMillis: Schema.optional(Schema.Number),
  ifModifiedSinceMillisOrig: Schema.optional(Schema.String),
  location: Schema.optional(VppLocation),
  uId: Schema.optional(Schema.String),
  errorNumber: Schema.optional(Schema.Number),
  errorMessage: Schema.optional(Schema.String)
}

/**
 * Builds the schema of one legacy service's response: `field` names the records array (`licenses`, `users`),
 * which may be missing (no records). The envelope has no transformation of its own, so each record is
 * decoded once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const envelope = <A, I>(field: string, record: Schema.Schema<A, I>) =>
  Envelope.withRecords(BatchFields, field, record)

/**
 * The natural key of a licence: its id.
 *
 * @since 0.1.0
 * @category keys
 */
export const licenseKey = (license: {
  readonly licenseId?: number | undefined
  readonly licenseIdStr?: string | undefined
}): string => license.licenseIdStr ?? String(license.licenseId)

/**
 * The natural key of a user entry: its `userId` (a `clientUserId` can repeat across retired entries).
 *
 * @since 0.1.0
 * @category keys
 */
export const userKey = (user: { readonly userId?: number | undefined; readonly clientUserIdStr?: string | undefined }): string =>
  user.userId !== undefined ? String(user.userId) : `client:${user.clientUserIdStr ?? ""}`

/**
 * The request fields of Get Licenses besides the tokens (`pricingParam` only counts with `adamId`). Apple: "For
 * best performance, set `assignedOnly` to `true`".
 *
 * @since 0.1.0
 * @category schemas
 */
export const LicenseFilters = Schema.Struct({
  adamId: Schema.optional(Schema.String.annotations({ description: "licences of this product" })),
  pricingParam: Schema.optional(PricingParam.annotations({ description: "STDQ (standard) or PLUS (high quality)" })),
  assignedOnly: Schema.optional(Schema.Boolean.annotations({ description: "only assigned licences (Apple: faster)" })),
  userAssignedOnly: Schema.optional(Schema.Boolean.annotations({ description: "only licences assigned to users" })),
  deviceAssignedOnly: Schema.optional(Schema.Boolean.annotations({ description: "only licences assigned to devices" })),
  serialNumber: Schema.optional(Schema.String.annotations({ description: "licences of this device" }))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface LicenseFilters extends Schema.Schema.Type<typeof LicenseFilters> {}

/** A boolean the server wants as the integer 1 or 0. */
const BooleanAsInteger = Schema.transform(Schema.Literal(0, 1), Schema.Boolean, {
  strict: true,
  decode: (n) => n === 1,
  encode: (b) => (b ? 1 : 0)
})

/**
 * The request fields of Get Users besides the tokens. `includeRetired` is sent as the integer 1 or 0, as the
 * server requires.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UserFilters = Schema.Struct({
  includeRetired: Schema.optional(BooleanAsInteger.annotations({ description: "include retired users" })),
  includeRetiredOnly: Schema.optional(Schema.Boolean.annotations({ description: "only retired users" }))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface UserFilters extends Schema.Schema.Type<typeof UserFilters> {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Only records modified since this token (a previous outcome's checkpoint). */
  readonly sinceModifiedToken?: string
  /** `sequential` (default) follows the `batchToken` chain; `parallel` fans out over `overrideIndex`. */
  readonly mode?: "sequential" | "parallel"
  /** Parallel requests at once, 1 to 5 (default 5; the client's gate applies as well). */
  readonly concurrency?: number
  /** Walks restarted after 9633 before the error is returned (default 3). */
  readonly maxRestarts?: number
  /** Retries of a response with neither token before a `ProtocolError` (default 5). */
  readonly maxTokenlessRetries?: number
  /** Batches per pass after which the walk is a runaway (`ProtocolError`; default 100 000). */
  readonly maxBatches?: number
}

/**
 * A legacy batch service: its path, the name of its records array, the record schema and its natural key (a
 * {@link Resource.Resource} of the `legacy` family is one).
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchService<A, I> {
  readonly path: string
  readonly field: string
  readonly record: Schema.Schema<A, I>
  readonly key: (record: A) => string
}

/**
 * Get Licenses (`getVPPLicensesSrv`, v1), walked in batches, incremental with `sinceModifiedToken`.
 *
 * @since 0.1.0
 * @category resources
 */
export const licensesResource: Resource.Resource<
  VppLicense,
  typeof VppLicense.Encoded,
  LicenseFilters,
  typeof LicenseFilters.Encoded
> = Resource.make({
  name: "legacy-licenses",
  description: "every licence, from the legacy v1 service",
  family: "legacy",
  path: "/getVPPLicensesSrv",
  field: "licenses",
  record: VppLicense,
  filters: LicenseFilters,
  syncFilters: {},
  key: licenseKey,
  keyDescription: "`licenseIdStr` (or `licenseId`)",
  briefFields: ["licenseIdStr", "adamIdStr", "status", "clientUserIdStr", "serialNumber"],
  delta: { param: "sinceModifiedToken", checkpoint: "sinceModifiedToken" }
})

/**
 * Get Users (`getVPPUsersSrv`, v1) with their licences, walked in batches, incremental with
 * `sinceModifiedToken`. A sync asks for retired entries too, so that a retirement is a change an incremental
 * run sees (the entry turns Retired) instead of a disappearance only a full run reconciles.
 *
 * @since 0.1.0
 * @category resources
 */
export const usersResource: Resource.Resource<VppUser, typeof VppUser.Encoded, UserFilters, typeof UserFilters.Encoded> =
  Resource.make({
    name: "legacy-users",
    description: "every user entry, from the legacy v1 service",
    family: "legacy",
    path: "/getVPPUsersSrv",
    field: "users",
    record: VppUser,
    filters: UserFilters,
    syncFilters: { includeRetired: true },
    key: userKey,
    keyDescription: "`userId` (a `clientUserIdStr` repeats across retired entries)",
    briefFields: ["userId", "clientUserIdStr", "email", "status"],
    delta: { param: "sinceModifiedToken", checkpoint: "sinceModifiedToken" }
  })

/**
 * @since 0.1.0
 * @category services
 */
export const licensesService: BatchService<VppLicense, typeof VppLicense.Encoded> = licensesResource

/**
 * @since 0.1.0
 * @category services
 */
export const usersService: BatchService<VppUser, typeof VppUser.Encoded> = usersResource

class Tokenless {
  readonly _tag = "Tokenless"
}

const present = (token: string | undefined): token is string => token !== undefined && token.length > 0

/** What a walk reads of a response: its tokens (`null` counts as absent), its batch count and its records. */
interface BatchView<A> {
  readonly batchToken: string | undefined
  readonly sinceModifiedToken: string | undefined
  readonly totalBatchCount: number | undefined
  readonly records: ReadonlyArray<A>
}

const isBatchDataLost = (error: unknown): boolean =>
  Predicate.isTagged(error, "BadRequestError") && (error as VppError.BadRequestError).errorNumber === 9633

/** How the server refuses the `sinceModifiedToken` of a delta's first request: invalid, not this sToken's, data gone. */
const checkpointRefusals: ReadonlySet<number | undefined> = new Set([9602, 9629, 9633])

const isCheckpointRefusal = (error: unknown): error is VppError.BadRequestError =>
  Predicate.isTagged(error, "BadRequestError") && checkpointRefusals.has((error as VppError.BadRequestError).errorNumber)

/** A refusal of the first request of a delta walk is about its checkpoint: the error says it is unusable. */
const refusedCheckpoint = <E>(error: E): E | VppError.CheckpointUnusableError =>
  isCheckpointRefusal(error)
    ? new VppError.CheckpointUnusableError({
      endpoint: error.endpoint,
      status: error.status,
      errorNumber: error.errorNumber,
      cause: error
    })
    : error

/**
 * A walk of any legacy batch service; `fields` are the request fields besides the tokens (`undefined`
 * values are left out).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I>(
  service: BatchService<A, I>,
  fields: Readonly<Record<string, unknown>> = {},
  options: Options = {}
): Traversal.Traversal<A> => {
  const schema = envelope(service.field, service.record)
  type Batch = BatchView<A>
  const parallel = options.mode === "parallel"
  const concurrency = VppClient.clampConcurrency(options.concurrency)
  const maxRestarts = options.maxRestarts ?? 3
  const maxTokenless = options.maxTokenlessRetries ?? 5
  const maxBatches = options.maxBatches ?? 100_000
  const protocolError = (reason: string) => new VppError.ProtocolError({ endpoint: service.path, reason })
  const delta = present(options.sinceModifiedToken)
  const initialFields = delta ? { ...fields, sinceModifiedToken: options.sinceModifiedToken } : fields

  return Traversal.make(<E2, R2>(onPage: (page: Traversal.Page<A>) => Effect.Effect<void, E2, R2>) =>
    Effect.gen(function*() {
      const client = yield* VppClient.VppClient
      const delivered = new Map<string, number>()
      let records = 0
      let retries = 0
      let drifted = false

      /** One request; a response with neither token is sent again (same body) with backoff. */
      const fetch = (body: Readonly<Record<string, unknown>>) =>
        client.execute({ _tag: "LegacyPost", path: service.path, body }, schema).pipe(
          Effect.flatMap((response) => {
            retries += response.attempts - 1
            const body = response.value
            const batch: Batch = {
              batchToken: body.batchToken ?? undefined,
              sinceModifiedToken: body.sinceModifiedToken ?? undefined,
              totalBatchCount: body.totalBatchCount,
              records: Envelope.records<A>(body, service.field)
            }
            return present(batch.batchToken) || present(batch.sinceModifiedToken)
              ? Effect.succeed(batch)
              : Effect.fail(new Tokenless())
          }),
          Effect.tapError((error) => Effect.sync(() => error._tag === "Tokenless" && retries++)),
          Effect.retry({
            schedule: RetryPolicy.backoff({ maxRetries: maxTokenless }),
            while: (error) => error._tag === "Tokenless"
          }),
          Effect.catchTag("Tokenless", () =>
            protocolError(
              `${maxTokenless + 1} responses in a row carried neither a batchToken nor a sinceModifiedToken`
            ))
        )

      /** Hands a batch on without the records already delivered unchanged. */
      const deliver = (index: number, batch: Batch, repeatsExpected: boolean) => {
        const fresh: Array<A> = []
        for (const record of batch.records) {
          const key = service.key(record)
          const print = fingerprint(record)
          const seen = delivered.get(key)
          if (seen === print) {
            if (!repeatsExpected) drifted = true
            continue
          }
          if (seen !== undefined) drifted = true
          delivered.set(key, print)
          fresh.push(record)
        }
        records += fresh.length
        return onPage({ records: fresh, index, total: batch.totalBatchCount, versionId: undefined })
      }

      /**
       * Follows the batchToken chain from `first` (at `index`) to the response carrying the
       * sinceModifiedToken, or until `stop` returns something for a batch.
       */
      const follow = <Stop>(
        first: Batch,
        index: number,
        restarted: boolean,
        stop: (batch: Batch, index: number) => Stop | undefined
      ) =>
        Effect.gen(function*() {
          const followed = new Set<string>()
          let batch = first
          for (;; index++) {
            yield* deliver(index, batch, restarted)
            if (present(batch.sinceModifiedToken)) {
              return { _tag: "End", checkpoint: batch.sinceModifiedToken, pages: index + 1 } as const
            }
            const stopped = stop(batch, index)
            if (stopped !== undefined) return stopped
            const token = batch.batchToken!
            if (followed.has(token)) return yield* protocolError("a batchToken came back that was already followed")
            if (index + 1 >= maxBatches) return yield* protocolError(`no sinceModifiedToken after ${maxBatches} batches`)
            followed.add(token)
            batch = yield* fetch({ ...fields, batchToken: token })
          }
        })

      /** overrideIndex 1..totalBatchCount with the token of `first` (a batch with records), in order. */
      const fanOut = (first: Batch, index: number, restarted: boolean) =>
        Effect.gen(function*() {
          const token = first.batchToken!
          const total = first.totalBatchCount!
          if (index + 1 + total > maxBatches) return yield* protocolError(`totalBatchCount ${total} exceeds ${maxBatches} batches`)
          const firstKeys = new Set(first.records.map(service.key))
          let checkpoint: string | undefined
          let lastToken: string | undefined
          yield* Stream.range(1, total).pipe(
            Stream.mapEffect(
              (overrideIndex) =>
                Effect.map(fetch({ ...fields, batchToken: token, overrideIndex }), (batch) => [overrideIndex, batch] as const),
              { concurrency }
            ),
            Stream.runForEach(([overrideIndex, batch]) => {
              // overrideIndex 1 is either the first batch again or the next one: only the former repeats it.
              const repeatsFirst = overrideIndex === 1 && batch.records.length === firstKeys.size &&
                batch.records.every((record) => firstKeys.has(service.key(record)))
              if (batch.totalBatchCount !== total) drifted = true
              if (present(batch.sinceModifiedToken)) checkpoint = batch.sinceModifiedToken
              if (overrideIndex === total) lastToken = batch.batchToken
              return deliver(index + overrideIndex, batch, restarted || repeatsFirst)
            })
          )
          return { checkpoint, lastToken, pages: index + 1 + total }
        })

      const pass = (restarted: boolean) =>
        Effect.gen(function*() {
          const first = yield* (delta ? Effect.mapError(fetch(initialFields), refusedCheckpoint) : fetch(initialFields))
          // In parallel mode the fan-out starts at the first batch with records (an empty first response
          // may be an extra batch before the first one).
          const start = yield* follow(first, 0, restarted, (batch, index) =>
            parallel && batch.records.length > 0 && (batch.totalBatchCount ?? 0) > 0
              ? { _tag: "FanOut", batch, index } as const
              : undefined)
          if (start._tag === "End") return start
          const fanned = yield* fanOut(start.batch, start.index, restarted)
          if (fanned.checkpoint !== undefined) return { checkpoint: fanned.checkpoint, pages: fanned.pages }
          // No indexed batch carried the sinceModifiedToken: the walk goes on after the last one.
          if (!present(fanned.lastToken)) {
            return yield* protocolError("no batch up to totalBatchCount carried a sinceModifiedToken or a batchToken")
          }
          const next = yield* fetch({ ...fields, batchToken: fanned.lastToken })
          return yield* follow<never>(next, fanned.pages, restarted, () => undefined)
        })

      for (let passes = 1;; passes++) {
        const result = yield* pass(passes > 1).pipe(
          Effect.map(Option.some),
          Effect.catchIf(
            (error) => isBatchDataLost(error) && passes <= maxRestarts,
            () => Effect.as(Effect.logDebug(`${service.path}: batch data lost (9633), restarting the walk`), Option.none())
          )
        )
        if (Option.isSome(result)) {
          return Traversal.outcome(result.value.checkpoint, { pages: result.value.pages, records, retries, drifted }, passes)
        }
      }
    }).pipe(Effect.withSpan("Legacy.walk", { attributes: { endpoint: service.path, mode: options.mode ?? "sequential" } }))
  )
}

/**
 * Every licence (`getVPPLicensesSrv`), as one walk. One options object, `filters` inside, as every paginator
 * takes.
 *
 * ```ts
 * Legacy.licenses({ filters: { assignedOnly: true }, mode: "parallel", sinceModifiedToken: checkpoint })
 * ```
 *
 * @since 0.1.0
 * @category traversals
 */
export const licenses = (
  { filters = {}, ...options }: Options & { readonly filters?: LicenseFilters } = {}
): Traversal.Traversal<VppLicense> =>
  make(licensesResource, Resource.encodeFilters(licensesResource, filters), options)

/**
 * Every user (`getVPPUsersSrv`) with its licences, as one walk.
 *
 * @since 0.1.0
 * @category traversals
 */
export const users = (
  { filters = {}, ...options }: Options & { readonly filters?: UserFilters } = {}
): Traversal.Traversal<VppUser> =>
  make(usersResource, Resource.encodeFilters(usersResource, filters), options)
