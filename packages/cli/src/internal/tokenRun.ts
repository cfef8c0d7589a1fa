import * as ClientConfig from "@vppkit/core/ClientConfig"
import * as SToken from "@vppkit/core/SToken"
import * as VppClient from "@vppkit/core/VppClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { TokenError } from "../ExitCode.js"
import { loadSettings } from "./settings.js"
import { load } from "./lazy.js"
import type { Flags } from "./tokenCommand.js"

const day = 86_400_000

/**
 * Whole days to the token's expiry: negative once it has expired (`-361`: it expired 361 whole days ago), so the
 * text and `--json` tell the same.
 */
export const daysLeft = (token: SToken.SToken, now: Date): number => {
  if (!SToken.isExpired(token, now)) return SToken.daysLeft(token, now)
  const ago = Math.floor((now.getTime() - token.expiresAt.getTime()) / day)
  return ago === 0 ? 0 : -ago
}

const iso = (date: Date) => date.toISOString().replace(".000Z", "Z")

/** Apple's `tokenExpirationDate` (`2030-11-08T22:33:22+0000`) as ISO 8601, or as given when it is not a date. */
const normaliseDate = (text: string): string => {
  const date = new Date(text.replace(/([+-]\d{2})(\d{2})$/, "$1:$2"))
  return Number.isNaN(date.getTime()) ? text : iso(date)
}

const describeMdm = (mdmInfo: ClientConfig.ClientConfig["mdmInfo"]): string => {
  if (mdmInfo === undefined || mdmInfo === null) return "none set"
  const details = [mdmInfo.id, mdmInfo.metadata].filter((value) => value !== undefined && value.length > 0)
  return `${mdmInfo.name ?? "(no name)"}${details.length > 0 ? ` (${details.join(", ")})` : ""}`
}

/** `vppkit token` (tokenCommand.ts): the client on undici is loaded only for `--check`. */
export const runToken = ({ check, json, ...globals }: Flags) =>
  Effect.gen(function*() {
    const settings = yield* loadSettings(globals, { allowExpired: true })
    const now = new Date()
    const expired = SToken.isExpired(settings.token, now)
    const days = daysLeft(settings.token, now)
    const expires = iso(settings.token.expiresAt)
    const offline = { orgName: settings.token.orgName, expiresAt: expires, daysLeft: days, expired }
    if (!json) {
      yield* Console.log(`organisation  ${settings.token.orgName}`)
      yield* Console.log(`expires       ${expires}${expired ? " (expired)" : ""}`)
      yield* Console.log(
        expired
          ? `expired       ${days === 0 ? "less than a day ago" : `${-days} day${days === -1 ? "" : "s"} ago`}`
          : `days left     ${days}`
      )
      yield* Console.log(`base URL      ${settings.baseUrl}`)
    }
    if (expired) {
      if (json) yield* Console.log(JSON.stringify(offline))
      return yield* new TokenError({
        message: `the sToken expired on ${expires.slice(0, 10)}: download a new one from Apple School Manager or Apple Business Manager`
      })
    }
    if (!check) {
      if (json) yield* Console.log(JSON.stringify(offline))
      return
    }
    const NodeVppClient = yield* load("the HTTP client", () => import("@vppkit/node/NodeVppClient"))
    const client = yield* NodeVppClient.make(settings)
    const config = yield* ClientConfig.get.pipe(
      Effect.provideService(VppClient.VppClient, client),
      Effect.tapError(() => json ? Console.log(JSON.stringify(offline)) : Effect.void)
    )
    // Apple's word on the token; never notificationAuthToken (the MDM's shared secret).
    const online = {
      locationName: config.locationName,
      uId: config.uId,
      mdmInfo: config.mdmInfo ?? null,
      tokenExpirationDate: config.tokenExpirationDate === undefined ? undefined : normaliseDate(config.tokenExpirationDate)
    }
    if (json) {
      yield* Console.log(JSON.stringify({ ...offline, check: { accepted: true, ...online } }))
      return
    }
    yield* Console.log(`accepted      yes (GET /v2/client/config)`)
    yield* Console.log(`location      ${online.locationName ?? "(not given)"}`)
    yield* Console.log(`uId           ${online.uId ?? "(not given)"}`)
    yield* Console.log(`MDM           ${describeMdm(config.mdmInfo)}`)
    if (online.tokenExpirationDate !== undefined) yield* Console.log(`Apple expiry  ${online.tokenExpirationDate}`)
  }).pipe(Effect.scoped)
