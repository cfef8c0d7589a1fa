import * as Resources from "@vppkit/core/Resources"
import * as SToken from "@vppkit/core/SToken"
import * as Redacted from "effect/Redacted"
import type { Settings, SimResponse } from "../Simulator.js"
import type { Host } from "./host.js"
import type { PageResource } from "./organisation.js"
import { Organisation } from "./organisation.js"
import { modelledSources, type PageSource, servedSource } from "./pageSource.js"
import { hash, makeRandom, uuidFrom } from "./random.js"
import { errorResponse, json } from "./responses.js"
import type { Stored } from "./store.js"
import { type SubscriptionResource, Subscriptions } from "./subscriptions.js"

/**
 * The simulated organisation and its token: the records of every endpoint, the versionIds handed out, the churn
 * setting, and the token checks. What every endpoint shares; the cursor and legacy endpoints see it as a {@link Host}.
 */
export interface Model extends Host {
  readonly token: SToken.SToken
  /** Every sToken the server accepts for the library: {@link token} first. */
  readonly tokens: ReadonlyArray<SToken.SToken>
  readonly subscriptions: Subscriptions
  /** Why a v2 request's `Authorization` header is not accepted, as Apple answers it. */
  readonly checkToken: (authorization: string | undefined, now: number) => SimResponse | undefined
  /** The page-index resources of `Resources.all` by descriptor name, over the organisation's model. */
  readonly pages: ReadonlyMap<string, PageSource>
  /** The resources served from a descriptor and records (the `served` setting) by descriptor name. */
  readonly served: ReadonlyMap<string, PageSource>
  /** The page-index or served resource of a name (thrown when there is none: a programming error). */
  readonly page: (resource: string) => PageSource
  /** The current versionId of a page-index resource (remembered, so `sinceVersionId` can be checked). */
  readonly versionIdOf: (resource: string) => string
  /** The resource and version a versionId stands for, if this simulator handed it out. */
  readonly versionOf: (versionId: string) => { readonly resource: string; readonly version: number } | undefined
  /** Replaces the churn setting (`undefined` stops churn). */
  readonly setChurn: (churn: Settings["churn"]) => void
  /** The current records of a page-index resource, in key order, as the API renders them. */
  readonly records: (resource: string) => ReadonlyArray<unknown>
  /** The current records written (inserted or updated) after the version a `versionId` stands for. */
  readonly changedSince: (resource: string, versionId: string) => ReadonlyArray<unknown>
}

const pageResources: ReadonlySet<string> = new Set<PageResource>(["assets", "assignments", "users"])

/** The resources served from a descriptor by name (names and paths unique, among them and `Resources.all`). */
const servedSources = (settings: Settings): ReadonlyMap<string, PageSource> => {
  const sources = new Map<string, PageSource>()
  const names = new Set(Resources.all.map((descriptor) => descriptor.name))
  const paths = new Set(Resources.all.map((descriptor) => descriptor.path))
  for (const served of settings.served ?? []) {
    const source = servedSource(served)
    const { name, path } = source.descriptor
    if (names.has(name)) throw new TypeError(`served resource ${name}: the simulator already has a resource of that name`)
    if (paths.has(path)) throw new TypeError(`served resource ${name}: the simulator already serves ${path}`)
    names.add(name)
    paths.add(path)
    sources.set(name, source)
  }
  return sources
}

/** Builds the model of a simulator from its settings (the data is seeded: the same settings, the same records). */
export const makeModel = (settings: Settings): Model => {
  const seed = settings.seed ?? 1
  const orgName = settings.orgName ?? "Simulated School"
  const uId = String(2_049_025_000_000_000 + (hash(`uid:${seed}`) % 1_000_000))
  const pageSize = Math.max(1, Math.floor(settings.pageSize ?? 1000))
  const organisation = new Organisation(seed, {
    assets: settings.records?.assets ?? 20,
    assignments: settings.records?.assignments ?? 500,
    users: settings.records?.users ?? 100,
    unlimitedAssets: settings.records?.unlimitedAssets ?? 0
  })
  const expiresAt = settings.tokenExpiresAt ?? new Date("2030-11-08T22:33:22Z")
  // Every sToken of the library: the first, and the others an administrator downloaded for the same location
  // (Apple gives each the library's uId).
  const tokens = Array.from(
    { length: Math.max(1, Math.floor(settings.tokens ?? 1)) },
    (_, i) => SToken.make({ secret: makeRandom(hash(i === 0 ? `token:${seed}` : `token:${seed}:${i}`)).hex(64), orgName, expiresAt })
  )
  const token = tokens[0]!
  const rawTokens = new Set(tokens.map((t) => Redacted.value(t.value)))
  const tokenExpirationDate = expiresAt.toISOString().replace(/\.\d{3}Z$/, "+0000")
  const subscriptions = new Subscriptions(seed, organisation, {
    subscriptions: settings.subscriptions?.subscriptions ?? 12,
    assignments: settings.subscriptions?.assignments ?? 40,
    admins: settings.subscriptions?.admins ?? 6
  })

  const pages = new Map(modelledSources(organisation).map((source) => [source.descriptor.name, source]))
  const served = servedSources(settings)
  const page = (resource: string): PageSource => {
    const source = pages.get(resource) ?? served.get(resource)
    if (source === undefined) throw new TypeError(`the simulator serves no page-index resource ${resource}`)
    return source
  }

  // versionIds per resource: string → counter, so sinceVersionId can be checked.
  const versionIds = new Map<string, { readonly resource: string; readonly version: number }>()
  const versionIdOf = (resource: string): string => {
    const version = page(resource).store.version
    const id = uuidFrom(seed, resource, version)
    versionIds.set(id, { resource, version })
    return id
  }

  let churnSetting = settings.churn
  let churnBatches = 0
  let dataRequests = 0
  const applyChurn = () => {
    const churn = churnSetting
    if (churn === undefined || churn.every <= 0) return
    dataRequests++
    if (dataRequests % churn.every !== 0) return
    if (churn.limit !== undefined && churnBatches >= churn.limit) return
    churnBatches++
    for (const resource of churn.resources ?? ["assignments"]) {
      if (pageResources.has(resource)) organisation.churn(resource as PageResource, churn)
      else subscriptions.churn(resource as SubscriptionResource, churn)
    }
  }

  const rendered = (resource: string, keep: (stored: Stored<unknown>) => boolean): ReadonlyArray<unknown> => {
    const source = page(resource)
    const selection = source.select(new Map())
    return source.store.all().filter(keep).map((stored) => selection.render(stored))
  }

  return {
    seed,
    uId,
    orgName,
    pageSize,
    organisation,
    expiresAt: expiresAt.getTime(),
    token,
    tokens,
    subscriptions,
    pages,
    served,
    page,
    json: (status, body) => json(status, body),
    metadata: (now) => {
      const within15Days = expiresAt.getTime() - now < 15 * 86_400_000
      return (settings.tokenExpirationDate ?? "always") === "always" || within15Days
        ? { tokenExpirationDate, uId }
        : { uId }
    },
    checkToken: (authorization, now) => {
      if (authorization === undefined || !authorization.startsWith("Bearer ")) return errorResponse(401, 9722)
      const presented = authorization.slice("Bearer ".length).trim()
      if (!rawTokens.has(presented)) return errorResponse(settings.invalidTokenStatus ?? 401, 9622)
      if (settings.revoked === true) return errorResponse(401, 9625)
      if (expiresAt.getTime() <= now) return errorResponse(401, 9621)
      return undefined
    },
    checkLegacyToken: (sToken, now) =>
      typeof sToken !== "string" || sToken.length === 0
        ? 9601
        : !rawTokens.has(sToken)
        ? 9622
        : settings.revoked === true
        ? 9625
        : expiresAt.getTime() <= now
        ? 9621
        : undefined,
    applyChurn,
    setChurn: (churn) => {
      churnSetting = churn
      churnBatches = 0
    },
    versionIdOf,
    versionOf: (versionId) => versionIds.get(versionId),
    records: (resource) => rendered(resource, () => true),
    changedSince: (resource, versionId) => {
      const since = versionIds.get(versionId)?.version ?? -1
      return rendered(resource, (stored) => stored.modified > since)
    }
  }
}
