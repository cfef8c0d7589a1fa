/**
 * Client Config (`GET /v2/client/config`): what Apple knows of the sToken's location. A request any valid
 * sToken may make, so it is the way to check a token online: a refused token fails with `AuthError`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { MdmInfo } from "./Common.js"
import * as VppClient from "./VppClient.js"
import type * as VppError from "./VppError.js"

/**
 * The response of `GET /v2/client/config` (Apple's `ClientConfigResponse`; every field optional).
 * `notificationAuthToken` is the MDM's shared secret for notifications: decoded, but never shown by vppkit.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ClientConfig = Schema.Struct({
  locationName: Schema.optionalWith(Schema.String, { exact: true }),
  uId: Schema.optionalWith(Schema.String, { exact: true }),
  mdmInfo: Schema.optionalWith(Schema.NullOr(MdmInfo), { exact: true }),
  tokenExpirationDate: Schema.optionalWith(Schema.String, { exact: true }),
  countryISO2ACode: Schema.optionalWith(Schema.String, { exact: true }),
  defaultPlatform: Schema.optionalWith(Schema.String, { exact: true }),
  websiteURL: Schema.optionalWith(Schema.String, { exact: true }),
  notificationUrl: Schema.optionalWith(Schema.String, { exact: true }),
  notificationAuthToken: Schema.optionalWith(Schema.String, { exact: true }),
  subscribedNotificationTypes: Schema.optionalWith(Schema.Array(Schema.String), { exact: true })
}).annotations({ identifier: "ClientConfig" })

/**
 * @since 0.1.0
 * @category models
 */
export interface ClientConfig extends Schema.Schema.Type<typeof ClientConfig> {}

/**
 * The path of Client Config under the base URL.
 *
 * @since 0.1.0
 * @category constants
 */
export const path = "/v2/client/config"

/**
 * Reads Client Config with the client's sToken (retried like every request). A refused token fails with
 * `AuthError`.
 *
 * @since 0.1.0
 * @category requests
 */
export const get: Effect.Effect<ClientConfig, VppError.VppError, VppClient.VppClient> = Effect.flatMap(
  VppClient.VppClient,
  (client) => client.get(path, {}, ClientConfig)
).pipe(Effect.withSpan("ClientConfig.get"))
