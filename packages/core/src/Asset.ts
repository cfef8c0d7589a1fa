/**
 * Get Assets (`GET /v2/assets`): records and query filters.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { oneOf, PricingParam } from "./Common.js"
import * as Resource from "./Resource.js"

/**
 * @since 0.1.0
 * @category schemas
 */
export const ProductType = oneOf("App", "Book")

/**
 * @since 0.1.0
 * @category schemas
 */
export const SupportedPlatform = oneOf("iOS", "macOS", "tvOS", "watchOS", "visionOS")

/**
 * An app or book the organisation holds licences for. Apple marks every field optional; the natural key is
 * (`adamId`, `pricingParam`).
 *
 * `unlimited` is vppkit's, not Apple's: `PageIndex.assets` sets it to `true` on the records of Apple's
 * separate `unlimitedAssets` array (sent when the request has `unlimited=true`), which have no counts but
 * `assignedCount`, and leaves it out on the records of `assets`. (Without the `unlimited` parameter Apple lists
 * unlimited free assets among the others, with `totalCount` 2147483647 and no mark.)
 *
 * @since 0.1.0
 * @category schemas
 */
export const Asset = Schema.Struct({
  adamId: Schema.String,
  pricingParam: PricingParam,
  productType: Schema.optionalWith(ProductType, { exact: true }),
  assignedCount: Schema.optionalWith(Schema.Number, { exact: true }),
  availableCount: Schema.optionalWith(Schema.Number, { exact: true }),
  retiredCount: Schema.optionalWith(Schema.Number, { exact: true }),
  totalCount: Schema.optionalWith(Schema.Number, { exact: true }),
  deviceAssignable: Schema.optionalWith(Schema.Boolean, { exact: true }),
  revocable: Schema.optionalWith(Schema.Boolean, { exact: true }),
  supportedPlatforms: Schema.optionalWith(Schema.Array(Schema.String), { exact: true }),
  unlimited: Schema.optionalWith(Schema.Boolean, { exact: true })
}).annotations({ identifier: "Asset" })

/**
 * @since 0.1.0
 * @category models
 */
export interface Asset extends Schema.Schema.Type<typeof Asset> {}

/**
 * An unlimited free asset, returned in `unlimitedAssets` when `unlimited=true` is passed: an asset without
 * `availableCount`, `totalCount` and `retiredCount`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UnlimitedAsset = Schema.Struct({
  adamId: Schema.String,
  pricingParam: PricingParam,
  productType: Schema.optionalWith(ProductType, { exact: true }),
  assignedCount: Schema.optionalWith(Schema.Number, { exact: true }),
  deviceAssignable: Schema.optionalWith(Schema.Boolean, { exact: true }),
  revocable: Schema.optionalWith(Schema.Boolean, { exact: true }),
  supportedPlatforms: Schema.optionalWith(Schema.Array(Schema.String), { exact: true })
}).annotations({ identifier: "UnlimitedAsset" })

/**
 * @since 0.1.0
 * @category models
 */
export interface UnlimitedAsset extends Schema.Schema.Type<typeof UnlimitedAsset> {}

/**
 * The {@link Asset} record of an unlimited asset: its fields, marked `unlimited: true`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromUnlimited = (asset: UnlimitedAsset): Asset => ({ ...asset, unlimited: true })

/**
 * The value Apple gives `totalCount` (the largest 32-bit integer) for an unlimited free asset listed among the
 * others, when a request has no `unlimited` parameter.
 *
 * @since 0.1.0
 * @category constants
 */
export const unlimitedTotalCount = 2_147_483_647

/**
 * The query filters of Get Assets. There is no `sinceVersionId`: Apple does not support it for assets.
 *
 * `unlimited`: `true`: unlimited free assets come in a separate array (delivered marked `unlimited: true`);
 * `false`: they are left out; absent: they are listed among the others with `totalCount` 2147483647.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AssetFilters = Schema.Struct({
  adamId: Schema.optional(Schema.String.annotations({ description: "the product's adamId" })),
  pricingParam: Schema.optional(PricingParam.annotations({ description: "STDQ (standard) or PLUS (high quality)" })),
  productType: Schema.optional(ProductType.annotations({ description: "App or Book" })),
  revocable: Schema.optional(
    Schema.Boolean.annotations({ description: "only revocable (true) or irrevocable (false) assets" })
  ),
  deviceAssignable: Schema.optional(
    Schema.Boolean.annotations({ description: "only assets that can (true) or cannot (false) go to devices" })
  ),
  minAvailableCount: Schema.optional(Schema.Int.annotations({ description: "at least this many available licences" })),
  maxAvailableCount: Schema.optional(Schema.Int.annotations({ description: "at most this many available licences" })),
  minAssignedCount: Schema.optional(Schema.Int.annotations({ description: "at least this many assigned licences" })),
  maxAssignedCount: Schema.optional(Schema.Int.annotations({ description: "at most this many assigned licences" })),
  unlimited: Schema.optional(Schema.Boolean.annotations({
    description:
      "true: unlimited free assets too, marked unlimited; false: leave them out (default: listed with totalCount 2147483647)"
  }))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface AssetFilters extends Schema.Schema.Type<typeof AssetFilters> {}

/**
 * The natural key of an asset.
 *
 * @since 0.1.0
 * @category keys
 */
export const key = (asset: { readonly adamId: string; readonly pricingParam: string }): string =>
  `${asset.adamId}:${asset.pricingParam}`

/**
 * Get Assets (`GET /v2/assets`), paged by page index, without an incremental query. A sync asks with
 * `unlimited=true`, so that unlimited free assets come marked (`unlimited`) without made-up counts.
 *
 * @since 0.1.0
 * @category resources
 */
export const resource: Resource.Resource<Asset, typeof Asset.Encoded, AssetFilters, typeof AssetFilters.Encoded> = Resource
  .make({
    name: "assets",
    description: "apps and books the organisation holds licences for, with their counts",
    family: "page-index",
    path: "/v2/assets",
    field: "assets",
    record: Asset,
    also: { field: "unlimitedAssets", record: UnlimitedAsset, toRecord: fromUnlimited } satisfies Resource.AlsoRecords<
      Asset,
      UnlimitedAsset
    >,
    filters: AssetFilters,
    syncFilters: { unlimited: true },
    key,
    keyDescription: "`adamId`:`pricingParam`",
    briefFields: ["adamId", "pricingParam", "productType", "assignedCount", "availableCount", "totalCount"]
  })
