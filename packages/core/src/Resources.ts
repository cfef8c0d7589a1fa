/**
 * Every resource of Apple's API that vppkit reads, as {@link Resource.Resource} descriptors, and one traversal
 * constructor for any descriptor: the family's paginator with the descriptor's filters and incremental query.
 *
 * @since 0.1.0
 */
import * as Asset from "./Asset.js"
import * as Assignment from "./Assignment.js"
import * as Cursor from "./Cursor.js"
import { encoded } from "./internal/encoded.js"
import * as Legacy from "./Legacy.js"
import * as PageIndex from "./PageIndex.js"
import type * as Resource from "./Resource.js"
import { encodeFilters } from "./Resource.js"
import * as Subscription from "./Subscription.js"
import type * as Traversal from "./Traversal.js"
import * as User from "./User.js"

/**
 * Every resource, in the order a sync takes them: the v2 page-index resources, the subscriptions (cursor) and
 * the legacy v1 services.
 *
 * @since 0.1.0
 * @category resources
 */
export const all: ReadonlyArray<Resource.Any> = [
  Asset.resource,
  Assignment.resource,
  User.resource,
  Subscription.resource,
  Subscription.assignmentsResource,
  Subscription.adminsResource,
  Legacy.licensesResource,
  Legacy.usersResource
]

/**
 * The resource of a name among `resources` (default {@link all}).
 *
 * @since 0.1.0
 * @category resources
 */
export const byName = (name: string, resources: ReadonlyArray<Resource.Any> = all): Resource.Any | undefined =>
  resources.find((resource) => resource.name === name)

/**
 * What a traversal of a resource is asked for.
 *
 * @since 0.1.0
 * @category models
 */
export interface TraverseOptions<F> {
  /** Filter values (the type side of the resource's filter schema). */
  readonly filters?: F | undefined
  /** A checkpoint of an earlier pass: only the records changed since (resources with a `delta` only). */
  readonly since?: string | undefined
  /** Requests in flight at once, 1..5 (default 5; the client's gate applies as well). */
  readonly concurrency?: number | undefined
  /**
   * `parallel` or `sequential`. Default: the family's (page-index parallel, legacy sequential); cursors are
   * always sequential.
   */
  readonly mode?: "parallel" | "sequential" | undefined
  /** Page-index: hold each pass and re-traverse a drifted one up to this many passes (0 or absent: stream one). */
  readonly retraverse?: number | undefined
}

/**
 * A traversal of any resource: its family's paginator, with the filters encoded by the resource's filter
 * schema and, for `since`, the resource's incremental parameter. A `since` for a resource without an
 * incremental query is a programming error (thrown), never silently a full pass.
 *
 * @since 0.1.0
 * @category traversals
 */
export const traverse = <A, I, F, FI>(
  resource: Resource.Resource<A, I, F, FI>,
  options: TraverseOptions<F> = {}
): Traversal.Traversal<A> => {
  if (options.since !== undefined && resource.delta === undefined) {
    throw new TypeError(`${resource.name} has no incremental query: a checkpoint cannot be used`)
  }
  const params = options.filters === undefined ? {} : encodeFilters(resource, options.filters)
  const since = options.since !== undefined && resource.delta !== undefined ? { [resource.delta.param]: options.since } : {}
  switch (resource.family) {
    case "page-index":
      return PageIndex.traverse(resource, { ...params, ...since }, {
        ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
        ...(options.mode !== undefined ? { mode: options.mode } : {}),
        ...(options.retraverse !== undefined && options.retraverse > 0 ? { drift: { retraverse: options.retraverse } } : {})
      })
    case "cursor":
      return Cursor.make(resource, { ...params, ...since })
    case "legacy":
      return Legacy.make(resource, params, {
        ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
        ...(options.mode !== undefined ? { mode: options.mode } : {}),
        ...(options.since !== undefined ? { sinceModifiedToken: options.since } : {})
      })
  }
}

/**
 * A record as Apple's JSON has it: the encoded side of a resource's record schema.
 *
 * @since 0.1.0
 * @category models
 */
export type JsonRecord = { readonly [field: string]: unknown }

/**
 * A traversal of a resource whose records come as Apple's JSON has them (its record schema's encoded side, the
 * shape of {@link Resource.columns}): what `list` prints and a sync stores. Records of a schema without
 * transformations pass as they are decoded.
 *
 * @since 0.1.0
 * @category traversals
 */
export const traverseJson = <A, I, F, FI>(
  resource: Resource.Resource<A, I, F, FI>,
  options: TraverseOptions<F> = {}
): Traversal.Traversal<JsonRecord> => encoded(traverse(resource, options), resource.record)
