/** The bundled CLI, `dist/vppkit.js`. */
export declare const outfile: string
/** The chunks {@link outfile} loads, `dist/vppkit-chunks/`. */
export declare const chunkDir: string
/** Builds {@link outfile} and its chunks from `dist/bin.js` (removing the chunks of an earlier build). */
export declare const bundle: () => Promise<unknown>
