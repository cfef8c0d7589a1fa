/**
 * Get Assets (`GET /v2/assets`): records and query filters.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { oneOf, PricingParam } from "./Common.js"

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
  supportedPlatforms: Schema.optionalWith(Schema.Array(Schema.String), { exact: true })
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
