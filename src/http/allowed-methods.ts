/** What the onRoute hook is told about a route, as far as matching paths goes. */
export interface RouteSeen {
  method: string | readonly string[];
  url: string;
  routePath: string;
  prefix: string;
  prefixTrailingSlash?: 'slash' | 'no-slash' | 'both';
}

/**
 * Which methods serve a path, so a known path called with another method can be answered 405 with
 * an `Allow` header instead of 404. Fastify's router cannot be asked that for a concrete path (its
 * findRoute and hasRoute take route patterns), so every route is recorded as it is added, through
 * an onRoute hook, with its pattern compiled to a regular expression.
 */
export class AllowedMethods {
  private readonly routes: { method: string; pattern: RegExp }[] = [];

  /** Records a route as the onRoute hook sees it. */
  add(route: RouteSeen): void {
    const urls = [route.url];
    // A plugin's '/' route under a prefix is served at '/prefix' and, by default, '/prefix/' too;
    // Fastify runs onRoute only for the first (GET /docs/ is one such route).
    if (route.routePath === '' && route.prefix !== '' && (route.prefixTrailingSlash ?? 'both') === 'both') {
      urls.push(`${route.url}/`);
    }
    const methods = typeof route.method === 'string' ? [route.method] : route.method;
    for (const url of urls) {
      const pattern = compilePattern(url);
      for (const method of methods) this.routes.push({ method: method.toUpperCase(), pattern });
    }
  }

  /**
   * The methods some route serves `url` (a request URL, query string allowed) with, sorted; empty
   * when no route knows the path. HEAD is among them where Fastify added it for a GET route, since
   * that HEAD route passed through onRoute like any other.
   */
  forUrl(url: string): string[] {
    const path = routingPath(url);
    const methods = new Set<string>();
    for (const route of this.routes) {
      if (route.pattern.test(path)) methods.add(route.method);
    }
    return [...methods].sort();
  }
}

/**
 * A route pattern as a regular expression over the whole path: `:name` matches one non-empty
 * segment, a `*` anything to the end (as @fastify/static's wildcard does), the rest literally.
 * Parameters with their own regular expression (`:id(^\\d+)`) are not used here; such a pattern
 * would simply never match, leaving its path a 404.
 */
function compilePattern(url: string): RegExp {
  const source = url
    .split(/(:[A-Za-z0-9_]+|\*)/)
    .map((part) => {
      if (part === '*') return '.*';
      if (part.startsWith(':')) return '[^/]+';
      return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('');
  return new RegExp(`^${source}$`);
}

/**
 * The path as the router matches it: without the query string or fragment, and percent-decoded
 * the way find-my-way decodes it (decodeURI, which leaves an encoded `/` encoded), so
 * `/auth/logi%6E` is the login path here as it is there.
 */
function routingPath(url: string): string {
  const path = url.split(/[?#]/, 1)[0] ?? '';
  try {
    return decodeURI(path);
  } catch {
    return path;
  }
}
