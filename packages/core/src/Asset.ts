/**
 * Get Assets (`GET /v2/assets`): records and query filters.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { PricingParam } from "./Common.js"

/**
 * @since 0.1.0
 * @category schemas
 */
export const ProductType = Schema.Literal("App", "Book")

/**
 * @since 0.1.0
 * @category schemas
 */
export const SupportedPlatform = Schema.Literal("iOS", "macOS", "tvOS", "watchOS", "visionOS")

/**
 * An app or book the organisation holds licences for. Apple marks every field optional; the natural key is
 * (`adamId`, `pricingParam`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Asset = Schema.Struct({
  adamId: Schema.String,
  pricingParam: PricingParam,
  productType: Schema.optional(ProductType),
  assignedCount: Schema.optional(Schema.Number),
  availableCount: Schema.optional(Schema.Number),
  retiredCount: Schema.optional(Schema.Number),
  totalCount: Schema.optional(Schema.Number),
  deviceAssignable: Schema.optional(Schema.Boolean),
  revocable: Schema.optional(Schema.Boolean),
  supportedPlatforms: Schema.optional(Schema.Array(Schema.String))
}).annotations({ identifier: "Asset" })

/**
 * @since 0.1.0
 * @category models
 */
export interface Asset extends Schema.Schema.Type<typeof Asset> {}

/**
 * An unlimited free asset, returned in `unlimitedAssets` when `unlimited=true` is passed.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UnlimitedAsset = Schema.Struct({
  adamId: Schema.String,
  pricingParam: PricingParam,
  productType: Schema.optional(ProductType),
  assignedCount: Schema.optional(Schema.Number),
  deviceAssignable: Schema.optional(Schema.Boolean),
  revocable: Schema.optional(Schema.Boolean),
  supportedPlatforms: Schema.optional(Schema.Array(Schema.String))
}).annotations({ identifier: "UnlimitedAsset" })

/**
 * @since 0.1.0
 * @category models
 */
export interface UnlimitedAsset extends Schema.Schema.Type<typeof UnlimitedAsset> {}

/**
 * The query filters of Get Assets. There is no `sinceVersionId`: Apple does not support it for assets.
 *
 * @since 0.1.0
 * @category models
 */
export interface AssetFilters {
  readonly productType?: typeof ProductType.Type
  readonly pricingParam?: PricingParam
  readonly revocable?: boolean
  readonly deviceAssignable?: boolean
  readonly maxAvailableCount?: number
  readonly minAvailableCount?: number
  readonly maxAssignedCount?: number
  readonly minAssignedCount?: number
  readonly adamId?: string
  readonly unlimited?: boolean
}

/**
 * The natural key of an asset.
 *
 * @since 0.1.0
 * @category keys
 */
export const key = (asset: { readonly adamId: string; readonly pricingParam: string }): string =>
  `${asset.adamId}:${asset.pricingParam}`
