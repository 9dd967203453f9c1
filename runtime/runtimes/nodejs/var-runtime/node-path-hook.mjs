// ES module resolve hook registered by index.mjs with module.register().
//
// Node's ES module resolver ignores NODE_PATH, but Lambda's Node.js 18 and
// later runtimes let `import "pkg"` find packages in the NODE_PATH
// directories (layers under /opt/nodejs/node_modules and
// /opt/nodejs/node20/node_modules). This hook does that: when the default
// resolution of a bare specifier fails with ERR_MODULE_NOT_FOUND, it resolves
// the specifier again as if imported from a file inside each of those
// directories, in NODE_PATH order. The node_modules walk from such a file
// first looks in DIR/node_modules, then in DIR itself, which is where the
// packages of a NODE_PATH directory named node_modules live.

let parents = [];

export function initialize(data) {
  parents = Array.isArray(data?.parentURLs) ? data.parentURLs : [];
}

// isBare reports a package specifier ("pkg", "@scope/pkg/sub"), as opposed
// to a relative or absolute path or a URL ("node:fs", "file:///x").
function isBare(specifier) {
  if (specifier.startsWith('.') || specifier.startsWith('/')) {
    return false;
  }
  return !/^[a-zA-Z][a-zA-Z\d+\-.]*:/.test(specifier);
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !isBare(specifier)) {
      throw err;
    }
    for (const parentURL of parents) {
      try {
        return await nextResolve(specifier, { ...context, parentURL });
      } catch {
        // Not in this directory; try the next one.
      }
    }
    // The error the function would have had without the hook.
    throw err;
  }
}
