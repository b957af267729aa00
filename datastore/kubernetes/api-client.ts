/**
 * The HTTP layer of the kubernetes driver: one request to the API server as JSON in, JSON (or a `Status`)
 * out, on @kubernetes/client-node's own request machinery — `KubeConfig.applySecurityAuthentication` for
 * tokens, client certificates, exec plugins, TLS settings and proxies, and its fetch-based `HttpLibrary` to
 * send. We do not use the generated typed clients (CoreV1Api & co.) or `KubernetesObjectApi`: they
 * deserialize into model classes (timestamps become `Date`, unknown fields are dropped), and a datastore must
 * hand back exactly the JSON the server stored.
 *
 * Non-2xx answers are returned, not thrown: the caller maps the Status to a CaracalError with its context.
 * Network failures and timeouts throw.
 */
import {
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  type KubeConfig,
  type RequestContext,
  ServerConfiguration,
} from '@kubernetes/client-node';

export interface ApiResponse {
  readonly status: number;
  /** Parsed JSON; the raw text when the body is not JSON (a proxy's error page, say); undefined when empty. */
  readonly body: unknown;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Default `application/json`; PATCH needs its patch type. */
  contentType?: string;
}

const METHODS = {
  GET: HttpMethod.GET,
  POST: HttpMethod.POST,
  PUT: HttpMethod.PUT,
  PATCH: HttpMethod.PATCH,
  DELETE: HttpMethod.DELETE,
} as const;
export type Method = keyof typeof METHODS;

export class ApiClient {
  readonly #kc: KubeConfig;
  readonly #server: ServerConfiguration<Record<string, string>>;
  readonly #http = new IsomorphicFetchHttpLibrary();
  readonly #timeoutMs: number;
  readonly server: string;

  constructor(kc: KubeConfig, opts: { requestTimeoutMs: number }) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    this.#kc = kc;
    /** The API server's base URL, from the kubeconfig. */
    this.server = cluster.server.replace(/\/+$/, '');
    this.#server = new ServerConfiguration(this.server, {});
    this.#timeoutMs = opts.requestTimeoutMs;
  }

  async request(method: Method, path: string, opts: RequestOptions = {}): Promise<ApiResponse> {
    const ctx: RequestContext = this.#server.makeRequestContext(path, METHODS[method]);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) ctx.setQueryParam(k, String(v));
    ctx.setHeaderParam('Accept', 'application/json');
    if (opts.body !== undefined) {
      ctx.setHeaderParam('Content-Type', opts.contentType ?? 'application/json');
      ctx.setBody(JSON.stringify(opts.body));
    }
    ctx.setSignal(AbortSignal.timeout(this.#timeoutMs));
    await this.#kc.applySecurityAuthentication(ctx);
    const res = await this.#http.send(ctx).toPromise();
    const text = await res.body.text();
    let body: unknown;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    return { status: res.httpStatusCode, body };
  }
}
