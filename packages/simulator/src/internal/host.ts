import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import type { SimResponse } from "../Simulator.js"
import type { Organisation } from "./organisation.js"

/**
 * What the cursor and legacy endpoints need from the simulator that hosts them: its data, its response
 * helpers and its token checks. The simulator's model (internal/model.ts) is one.
 */
export interface Host {
  readonly seed: number
  readonly uId: string
  readonly orgName: string
  readonly pageSize: number
  readonly organisation: Organisation
  /** The sToken's expiry, in epoch milliseconds. */
  readonly expiresAt: number
  /** Answers JSON with the simulator's content type. */
  readonly json: (status: number, body: unknown) => SimResponse
  /** `tokenExpirationDate` (when sent) and `uId`. */
  readonly metadata: (now: number) => Readonly<Record<string, string>>
  /** Why a legacy body's sToken is not accepted (9601 missing, 9622 wrong, 9625 revoked, 9621 expired). */
  readonly checkLegacyToken: (sToken: unknown, now: number) => number | undefined
  /** Counts a data request and applies the configured churn when it is due. */
  readonly applyChurn: () => void
}

/** Base64 of a JSON value: how the simulator makes its opaque cursors and tokens. */
export const encodeToken = (value: unknown): string => Encoding.encodeBase64(JSON.stringify(value))

/** The JSON inside a token made by {@link encodeToken}, or `undefined` when it is not one. */
export const decodeToken = (token: string): Record<string, unknown> | undefined => {
  const text = Encoding.decodeBase64String(token)
  if (Either.isLeft(text)) return undefined
  try {
    const value: unknown = JSON.parse(text.right)
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}
