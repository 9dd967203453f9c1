// kumo's runtime interface client for the nodejs20.x managed runtime, run as
// `/usr/bin/node /var/runtime/index.mjs`. It behaves like AWS's
// aws-lambda-nodejs-runtime-interface-client (the client in Lambda's own
// Node.js images), whose structure it follows:
//   - handler "dir/file.export.nested": file, file.js (CommonJS unless the
//     nearest package.json says "type": "module"), file.mjs, file.cjs under
//     LAMBDA_TASK_ROOT, else a package of that name (node_modules, NODE_PATH);
//   - async handlers, callbacks (err, result), context.succeed/fail/done, and
//     callbackWaitsForEmptyEventLoop: a callback's result is sent once the
//     event loop is empty (default) or at once (false); a promise's result
//     is sent when it settles;
//   - errors posted as {errorType, errorMessage, trace} (Node's client sends
//     "trace", not "stackTrace"); Runtime.ImportModuleError, HandlerNotFound,
//     MalformedHandlerName and UserCodeSyntaxError to /runtime/init/error,
//     after which the process exits 129;
//   - an uncaught exception (exit 129) or unhandled rejection (exit 128)
//     during an invocation fails it and ends the process; a promise still
//     pending when the event loop empties fails with Runtime.NodeJsExit;
//   - console.* as "<time>\t<request id>\t<LEVEL>\t<message>" on stdout
//     (or JSON with AWS_LAMBDA_LOG_FORMAT=JSON, filtered by
//     AWS_LAMBDA_LOG_LEVEL); awslambda.streamifyResponse and
//     awslambda.HttpResponseStream for response streaming;
//   - ES module imports also search the NODE_PATH directories named
//     node_modules (layers), as Lambda's Node.js 18+ runtimes do
//     (node-path-hook.mjs).
//
// Differences from AWS's client, all deliberate:
//   - The Runtime API is spoken with node:http instead of a native libcurl
//     addon, so responses are posted asynchronously; stdout and stderr are
//     flushed before every post, because kumo attributes output to an
//     invocation by time and Node writes to pipes asynchronously.
//   - AWS starts node with --no-experimental-require-module; this client is
//     started with the image's plain argv, so require() of an ES module
//     follows the node binary's default (Node >= 20.19 allows it).
//   - A response that cannot be serialized (a cycle) is reported as an
//     error for every handler style; AWS's client exits for callbacks.
// Node built-ins only.

import fs from 'node:fs';
import http from 'node:http';
import Module from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import util from 'node:util';

// require is created here, in index.mjs, so that a missing handler module
// reports "Require stack: - /var/runtime/index.mjs" as AWS's does.
const require = Module.createRequire(import.meta.url);

const NO_OP = () => {};

// ---------------------------------------------------------------------------
// Errors

function defineRuntimeError(name) {
  const cls = { [name]: class extends Error {} }[name];
  cls.prototype.name = `Runtime.${name}`;
  return cls;
}

const ImportModuleError = defineRuntimeError('ImportModuleError');
const HandlerNotFound = defineRuntimeError('HandlerNotFound');
const MalformedHandlerName = defineRuntimeError('MalformedHandlerName');
const UserCodeSyntaxError = defineRuntimeError('UserCodeSyntaxError');
const MalformedStreamingHandler = defineRuntimeError('MalformedStreamingHandler');
const InvalidStreamingOperation = defineRuntimeError('InvalidStreamingOperation');

class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
UnhandledPromiseRejection.prototype.name = 'Runtime.UnhandledPromiseRejection';

class NodeJsExit extends Error {
  constructor() {
    super(
      'The Lambda runtime client detected an unexpected Node.js exit code. ' +
        'This is most commonly caused by a Promise that was never settled. ' +
        'For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes',
    );
  }
}
NodeJsExit.prototype.name = 'Runtime.NodeJsExit';

function isErrorLike(obj) {
  return Boolean(
    obj &&
      typeof obj.name === 'string' &&
      obj.name &&
      typeof obj.message === 'string' &&
      obj.message &&
      typeof obj.stack === 'string' &&
      obj.stack,
  );
}

function intoError(err) {
  return err instanceof Error ? err : new Error(err);
}

// toRapidResponse is the error document posted to the Runtime API: Node's
// client sends `trace`, not `stackTrace` as the other languages do.
function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || isErrorLike(error)) {
      return {
        errorType: error.name,
        errorMessage: error.message,
        trace: error.stack.split('\n'),
      };
    }
    return {
      errorType: typeof error,
      errorMessage: error.toString(),
      trace: [],
    };
  } catch {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
      trace: [],
    };
  }
}

// withEnumerableProperties lets JSON.stringify show an Error's name,
// message, code and stack, which are not enumerable.
function withEnumerableProperties(value) {
  if (!(value instanceof Error)) {
    return value;
  }
  const ret = Object.assign(
    { errorType: value.name, errorMessage: value.message, code: value.code },
    value,
  );
  if (typeof value.stack === 'string') {
    ret.stack = value.stack.split('\n');
  }
  return ret;
}

// toFormatted renders an error for the log; it starts with a tab as AWS's.
function toFormatted(error) {
  try {
    return '\t' + JSON.stringify(error, (_k, v) => withEnumerableProperties(v));
  } catch {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

// ---------------------------------------------------------------------------
// Logging: console.* become Lambda log lines on stdout.

const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');
const TENANT_ID = Symbol.for('aws.lambda.runtime.tenantId');

function setCurrentRequestId(id) {
  globalThis[REQUEST_ID] = id;
}

function setCurrentTenantId(id) {
  globalThis[TENANT_ID] = id;
}

const LEVELS = Object.freeze({
  TRACE: { name: 'TRACE', priority: 1 },
  DEBUG: { name: 'DEBUG', priority: 2 },
  INFO: { name: 'INFO', priority: 3 },
  WARN: { name: 'WARN', priority: 4 },
  ERROR: { name: 'ERROR', priority: 5 },
  FATAL: { name: 'FATAL', priority: 6 },
});

function jsonErrorReplacer(_key, value) {
  if (value instanceof Error) {
    return Object.assign(
      {
        errorType: value?.constructor?.name ?? 'UnknownError',
        errorMessage: value.message,
        stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
      },
      value,
    );
  }
  return value;
}

function formatJsonMessage(requestId, timestamp, level, ...messageParams) {
  const result = { timestamp, level: level.name, requestId };
  if (messageParams.length === 1) {
    result.message = messageParams[0];
    try {
      return JSON.stringify(result, jsonErrorReplacer);
    } catch {
      result.message = util.format(result.message);
      return JSON.stringify(result);
    }
  }
  result.message = util.format(...messageParams);
  for (const param of messageParams) {
    if (param instanceof Error) {
      result.errorType = param?.constructor?.name ?? 'UnknownError';
      result.errorMessage = param.message;
      result.stackTrace = typeof param.stack === 'string' ? param.stack.split('\n') : [];
      break;
    }
  }
  return JSON.stringify(result);
}

// A log record is one line: newlines inside it become carriage returns, so
// a multi-line message stays one CloudWatch event.
function logText(level, message, ...params) {
  const line = `${new Date().toISOString()}\t${globalThis[REQUEST_ID]}\t${level.name}\t${util.format(message, ...params)}`;
  process.stdout.write(line.replace(/\n/g, '\r') + '\n');
}

function logJson(level, message, ...params) {
  const line = formatJsonMessage(globalThis[REQUEST_ID], new Date().toISOString(), level, message, ...params);
  process.stdout.write(line.replace(/\n/g, '\r') + '\n');
}

// structuredConsole.logError logs an invocation or init error.
const structuredConsole = {};

function patchConsole() {
  const json = process.env.AWS_LAMBDA_LOG_FORMAT?.toUpperCase() === 'JSON';
  const log = json ? logJson : logText;
  const minimum = LEVELS[process.env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase()] ?? LEVELS.TRACE;
  const nop = () => {};
  const at = (level) =>
    level.priority >= minimum.priority ? (msg, ...params) => log(level, msg, ...params) : nop;
  console.trace = at(LEVELS.TRACE);
  console.debug = at(LEVELS.DEBUG);
  console.info = at(LEVELS.INFO);
  console.log = console.info;
  console.warn = at(LEVELS.WARN);
  console.error = at(LEVELS.ERROR);
  console.fatal = (msg, ...params) => log(LEVELS.FATAL, msg, ...params);
  structuredConsole.logError = json
    ? (_msg, err) => console.error(intoError(err))
    : (msg, err) => console.error(msg, toFormatted(intoError(err)));
}

function flushStream(stream) {
  return new Promise((resolve) => {
    if (!stream || stream.destroyed || !stream.writable) {
      resolve();
      return;
    }
    // Writes complete in order, so the callback of an empty write runs once
    // everything written before it has reached the file descriptor.
    try {
      stream.write('', () => resolve());
    } catch {
      resolve();
    }
  });
}

// flushOutput waits until the function's output has been handed to the
// kernel: kumo attributes output to the invocation in progress.
function flushOutput() {
  return Promise.all([flushStream(process.stdout), flushStream(process.stderr)]);
}

// exiting is set by the first fatal error (an uncaught exception or
// unhandled rejection): it is reported, the process exits, and no further
// invocation is requested meanwhile.
let exiting = false;

async function exitProcess(code) {
  await flushOutput();
  process.exit(code);
}

// ---------------------------------------------------------------------------
// Runtime API client

const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';
const ERROR_BODY_TRAILER = 'Lambda-Runtime-Function-Error-Body';
const API_PREFIX = '/2018-06-01/runtime';

function serializeResponse(body) {
  try {
    return JSON.stringify(body === undefined ? null : body);
  } catch {
    throw new Error('Unable to stringify response body');
  }
}

function errorTypeHeader(errorType) {
  try {
    http.validateHeaderValue(ERROR_TYPE_HEADER, String(errorType));
    return { [ERROR_TYPE_HEADER]: String(errorType) };
  } catch {
    return {};
  }
}

class RuntimeClient {
  constructor(endpoint) {
    const i = endpoint.lastIndexOf(':');
    // "[::1]:9001" names an IPv6 host; node:http wants it without brackets.
    this.hostname = endpoint.slice(0, i).replace(/^\[(.*)\]$/, '$1');
    this.port = Number.parseInt(endpoint.slice(i + 1), 10);
    // One connection, kept alive; idle sockets are unref'ed by the agent so
    // they do not keep the event loop (callbackWaitsForEmptyEventLoop) busy.
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  // request sends one HTTP request and reads the whole answer. A request
  // that fails on a kept-alive socket the server had just closed is retried
  // once on a new connection, as Node's documentation recommends.
  request(method, urlPath, body, headers = {}, retried = false) {
    return new Promise((resolve, reject) => {
      const allHeaders = { ...headers };
      if (body !== undefined) {
        allHeaders['Content-Type'] ??= 'application/json';
        allHeaders['Content-Length'] = Buffer.byteLength(body);
      }
      const req = http.request(
        { hostname: this.hostname, port: this.port, path: urlPath, method, headers: allHeaders, agent: this.agent },
        (res) => {
          const chunks = [];
          res.on('data', (chunk) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ statusCode: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', (err) => {
        if (!retried && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
          this.request(method, urlPath, body, headers, true).then(resolve, reject);
          return;
        }
        reject(err);
      });
      req.end(body);
    });
  }

  async nextInvocation() {
    const res = await this.request('GET', `${API_PREFIX}/invocation/next`);
    if (res.statusCode !== 200) {
      throw new Error(`Failed to get next invocation: HTTP ${res.statusCode}: ${res.body}`);
    }
    return { bodyJson: res.body, headers: res.headers };
  }

  async postInvocationResponse(response, id) {
    let body;
    try {
      body = serializeResponse(response);
    } catch (err) {
      await this.postInvocationError(err, id);
      return;
    }
    await flushOutput();
    await this.request('POST', `${API_PREFIX}/invocation/${encodeURIComponent(id)}/response`, body);
  }

  async postInvocationError(error, id) {
    const response = toRapidResponse(error);
    const body = serializeResponse(response);
    await flushOutput();
    await this.request(
      'POST',
      `${API_PREFIX}/invocation/${encodeURIComponent(id)}/error`,
      body,
      errorTypeHeader(response.errorType),
    );
  }

  async postInitError(error) {
    const response = toRapidResponse(error);
    const body = serializeResponse(response);
    await flushOutput();
    await this.request('POST', `${API_PREFIX}/init/error`, body, errorTypeHeader(response.errorType));
  }

  // streamResponse opens a streamed response (chunked, with the error in
  // trailers) for a handler wrapped by awslambda.streamifyResponse.
  streamResponse(id, options) {
    return createResponseStream(this, id, options);
  }
}

// ---------------------------------------------------------------------------
// Response streaming (awslambda.streamifyResponse)

const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';
const HTTP_INTEGRATION_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';

class HttpResponseStream {
  // from makes a function URL response: a JSON prelude (statusCode, headers,
  // cookies), eight NUL bytes, then the body.
  static from(underlyingStream, prelude) {
    underlyingStream.setContentType(HTTP_INTEGRATION_CONTENT_TYPE);
    const metadataPrelude = JSON.stringify(prelude);
    underlyingStream._onBeforeFirstWrite = (write) => {
      write(metadataPrelude);
      write(new Uint8Array(8));
    };
    return underlyingStream;
  }
}

function createResponseStream(client, id, options) {
  let started = false;
  let resolveDone;
  let rejectDone;
  const responseDone = new Promise((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  const req = http.request({
    hostname: client.hostname,
    port: client.port,
    path: `${API_PREFIX}/invocation/${encodeURIComponent(id)}/response`,
    method: 'POST',
    agent: client.agent,
    highWaterMark: options?.highWaterMark,
    headers: {
      'Lambda-Runtime-Function-Response-Mode': 'streaming',
      'Transfer-Encoding': 'chunked',
      Trailer: [ERROR_TYPE_HEADER, ERROR_BODY_TRAILER].join(', '),
      'Content-Type': 'application/octet-stream',
    },
  });
  req.on('response', (res) => {
    res.on('data', () => {});
    res.on('end', () => resolveDone());
    res.on('aborted', (err) => rejectDone(err));
  });
  req.on('error', (err) => rejectDone(err));
  // Awaited only once the handler has returned; a failure before that
  // must not count as an unhandled rejection of the function's.
  responseDone.catch(NO_OP);

  req.setContentType = (contentType) => {
    if (started) {
      throw new InvalidStreamingOperation('Cannot set content-type, too late.');
    }
    req.setHeader('Content-Type', contentType);
  };
  const write = req.write.bind(req);
  req.write = function (chunk, encoding, callback) {
    if (typeof chunk !== 'string' && !Buffer.isBuffer(chunk) && chunk?.constructor !== Uint8Array) {
      chunk = JSON.stringify(chunk);
    }
    if (!started && typeof this._onBeforeFirstWrite === 'function') {
      this._onBeforeFirstWrite((c) => write(c));
    }
    started = true;
    return write(chunk, encoding, callback);
  };
  // The body's end completes the invocation: flush the function's output
  // first, as for a buffered response.
  const end = req.end.bind(req);
  req.end = function (...args) {
    if (!started && typeof this._onBeforeFirstWrite === 'function') {
      started = true;
      this._onBeforeFirstWrite((c) => write(c));
    }
    started = true;
    flushOutput().then(() => end(...args));
    return this;
  };
  const fail = (err, callback) => {
    const error = toRapidResponse(err);
    started = true;
    flushOutput().then(() => {
      req.addTrailers({
        [ERROR_TYPE_HEADER]: error.errorType,
        [ERROR_BODY_TRAILER]: Buffer.from(JSON.stringify(error)).toString('base64'),
      });
      end(callback);
    });
  };
  return { responseStream: req, responseDone, fail };
}

// ---------------------------------------------------------------------------
// Loading the handler (UserFunction in AWS's client)

const FUNCTION_EXPR = /^([^.]*)\.(.*)$/;
const RELATIVE_PATH_SUBSTRING = '..';

// moduleRootAndHandler splits "dir/sub/module.a.b" into ["dir/sub/", "module.a.b"].
function moduleRootAndHandler(fullHandlerString) {
  const handlerString = path.basename(fullHandlerString);
  const moduleRoot = fullHandlerString.substring(0, fullHandlerString.indexOf(handlerString));
  return [moduleRoot, handlerString];
}

function splitHandlerString(handler) {
  const match = handler.match(FUNCTION_EXPR);
  if (!match || match.length !== 3) {
    throw new MalformedHandlerName('Bad handler');
  }
  return [match[1], match[2]];
}

function resolveHandler(object, nestedProperty) {
  return nestedProperty.split('.').reduce((nested, key) => nested && nested[key], object);
}

function tryRequireFile(file, extension = '') {
  const p = file + extension;
  return fs.existsSync(p) ? require(p) : undefined;
}

async function tryAwaitImport(file, extension = '') {
  const p = file + extension;
  return fs.existsSync(p) ? await import(pathToFileURL(p).href) : undefined;
}

// folderHasTypeModule reports whether the nearest package.json above folder
// says "type": "module", stopping at a node_modules directory.
function folderHasTypeModule(folder) {
  if (folder.endsWith('/node_modules')) {
    return false;
  }
  const pj = path.join(folder, 'package.json');
  if (fs.existsSync(pj)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(pj, 'utf8'));
      if (pkg) {
        return pkg.type === 'module';
      }
    } catch (e) {
      console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
      return false;
    }
  }
  if (folder === '/') {
    return false;
  }
  return folderHasTypeModule(path.resolve(folder, '..'));
}

function hasPackageJsonTypeModule(file) {
  const jsPath = file + '.js';
  return fs.existsSync(jsPath) ? folderHasTypeModule(path.resolve(path.dirname(jsPath))) : false;
}

// tryRequire loads the module the way AWS's client does: an extensionless
// file, then .js (CommonJS unless package.json says "type": "module"),
// .mjs and .cjs relative to the task root, then a Node-style lookup of the
// name (node_modules of the task root, then NODE_PATH).
async function tryRequire(appRoot, moduleRoot, module) {
  const lambdaStylePath = path.resolve(appRoot, moduleRoot, module);

  const extensionless = tryRequireFile(lambdaStylePath);
  if (extensionless) {
    return extensionless;
  }

  const pjHasModule = hasPackageJsonTypeModule(lambdaStylePath);
  if (!pjHasModule) {
    const loaded = tryRequireFile(lambdaStylePath, '.js');
    if (loaded) {
      return loaded;
    }
  }

  const loaded =
    (pjHasModule && (await tryAwaitImport(lambdaStylePath, '.js'))) ||
    (await tryAwaitImport(lambdaStylePath, '.mjs')) ||
    tryRequireFile(lambdaStylePath, '.cjs');
  if (loaded) {
    return loaded;
  }

  // require.resolve, not require: require() is relative to this file, not to
  // the task root.
  const nodeStylePath = require.resolve(module, { paths: [appRoot, moduleRoot] });
  return require(nodeStylePath);
}

async function loadUserApp(appRoot, moduleRoot, module) {
  try {
    return await tryRequire(appRoot, moduleRoot, module);
  } catch (e) {
    if (e instanceof SyntaxError) {
      throw new UserCodeSyntaxError(e);
    }
    if (e?.code === 'MODULE_NOT_FOUND') {
      throw new ImportModuleError(e);
    }
    throw e;
  }
}

function installGlobalAwsLambda() {
  const off = process.env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA;
  if (off === '1' || off === 'true') {
    return;
  }
  globalThis.awslambda = {
    streamifyResponse: (handler, options) => {
      handler[HANDLER_STREAMING] = STREAM_RESPONSE;
      if (typeof options?.highWaterMark === 'number') {
        handler[HANDLER_HIGHWATERMARK] = Number.parseInt(options.highWaterMark, 10);
      }
      return handler;
    },
    HttpResponseStream,
  };
}

async function loadHandler(appRoot, fullHandlerString) {
  if (fullHandlerString.includes(RELATIVE_PATH_SUBSTRING)) {
    throw new MalformedHandlerName(
      `'${fullHandlerString}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const [moduleRoot, moduleAndHandler] = moduleRootAndHandler(fullHandlerString);
  const [module, handlerPath] = splitHandlerString(moduleAndHandler);
  installGlobalAwsLambda();
  const userApp = await loadUserApp(appRoot, moduleRoot, module);
  const handlerFunc = resolveHandler(userApp, handlerPath);
  if (!handlerFunc) {
    throw new HandlerNotFound(`${fullHandlerString} is undefined or not exported`);
  }
  if (typeof handlerFunc !== 'function') {
    throw new HandlerNotFound(`${fullHandlerString} is not a function`);
  }
  return handlerFunc;
}

function handlerMetadata(handler) {
  const mode = handler[HANDLER_STREAMING];
  let streaming = false;
  if (mode !== undefined && mode !== null && mode !== false) {
    if (mode !== STREAM_RESPONSE) {
      throw new MalformedStreamingHandler('Only response streaming is supported.');
    }
    streaming = true;
  }
  const hwm = Number.parseInt(handler[HANDLER_HIGHWATERMARK], 10);
  return {
    streaming,
    highWaterMark: Number.isNaN(hwm) ? undefined : hwm,
    isAsync: handler.constructor?.name === 'AsyncFunction',
  };
}

// registerNodePathResolution makes ES module imports find packages in the
// NODE_PATH directories (layers), as Lambda's Node.js 18+ runtimes do. Only
// directories named node_modules that exist are used, so a function without
// layers does not pay for the loader thread.
function registerNodePathResolution() {
  if (typeof Module.register !== 'function') {
    return;
  }
  const parentURLs = (process.env.NODE_PATH ?? '')
    .split(path.delimiter)
    .filter((d) => path.isAbsolute(d) && path.basename(d) === 'node_modules' && fs.existsSync(d))
    .map((d) => pathToFileURL(path.join(d, 'noop.js')).href);
  if (parentURLs.length === 0) {
    return;
  }
  Module.register(new URL('./node-path-hook.mjs', import.meta.url), { data: { parentURLs } });
}

// ---------------------------------------------------------------------------
// The invocation: context object and callbacks

// The single beforeExit listener; it fires when the event loop is empty,
// which is when a callback handler with callbackWaitsForEmptyEventLoop
// (the default) is done.
const BEFORE_EXIT = Symbol.for('aws.lambda.beforeExit');
const beforeExit = {
  invoke: () => globalThis[BEFORE_EXIT](),
  reset: () => {
    globalThis[BEFORE_EXIT] = NO_OP;
  },
  set: (listener) => {
    globalThis[BEFORE_EXIT] = listener;
  },
};

class InvokeContext {
  constructor(headers) {
    this.headers = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  }

  get invokeId() {
    const id = this.headers['lambda-runtime-aws-request-id'];
    if (!id) {
      throw new Error('invocation id is missing or invalid');
    }
    return id;
  }

  updateLoggingContext() {
    setCurrentRequestId(this.invokeId);
    setCurrentTenantId(this.headers['lambda-runtime-aws-tenant-id']);
  }

  // attachEnvironmentData completes the context object handed to the
  // handler (same properties, in the same order, as AWS's).
  attachEnvironmentData(callbackContext) {
    const trace = this.headers['lambda-runtime-trace-id'];
    if (trace) {
      process.env._X_AMZN_TRACE_ID = trace;
    } else {
      delete process.env._X_AMZN_TRACE_ID;
    }
    const deadline = Number(this.headers['lambda-runtime-deadline-ms']);
    return Object.assign(
      callbackContext,
      {
        functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
        functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
        memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
        logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
        logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      },
      {
        clientContext: parseJsonHeader(this.headers['lambda-runtime-client-context'], 'ClientContext'),
        identity: parseJsonHeader(this.headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
        invokedFunctionArn: this.headers['lambda-runtime-invoked-function-arn'],
        awsRequestId: this.headers['lambda-runtime-aws-request-id'],
        tenantId: this.headers['lambda-runtime-aws-tenant-id'],
        getRemainingTimeInMillis: () => deadline - Date.now(),
      },
    );
  }
}

function parseJsonHeader(value, name) {
  if (value === undefined) {
    return undefined;
  }
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

// buildCallbackContext makes the handler's callback and the succeed, fail,
// done and callbackWaitsForEmptyEventLoop members of its context; only the
// first call of any of them counts.
function buildCallbackContext(client, id, scheduleNext, fatal) {
  const postError = (err, next) => {
    beforeExit.reset();
    structuredConsole.logError('Invoke Error', err);
    client.postInvocationError(err, id).then(next, fatal);
  };

  let isCompleteInvoked = false;
  const complete = (result, next) => {
    if (isCompleteInvoked) {
      console.error(
        'Invocation has already been reported as done. Cannot call complete more than once per invocation.',
      );
      return;
    }
    isCompleteInvoked = true;
    beforeExit.reset();
    client.postInvocationResponse(result, id).then(next, fatal);
  };

  let waitForEmptyEventLoop = true;

  const callback = (err, result) => {
    beforeExit.reset();
    if (err !== undefined && err !== null) {
      postError(err, scheduleNext);
    } else if (!waitForEmptyEventLoop) {
      complete(result, scheduleNext);
    } else {
      beforeExit.set(() => setImmediate(() => complete(result, scheduleNext)));
    }
  };
  const done = (err, result) => {
    beforeExit.reset();
    if (err !== undefined && err !== null) {
      postError(err, scheduleNext);
    } else {
      complete(result, scheduleNext);
    }
  };
  const succeed = (result) => done(null, result);
  const fail = (err) => (err === undefined || err === null ? done('handled') : done(err, null));

  let finished = false;
  const firstCallOnly =
    (fn) =>
    (...args) => {
      if (!finished) {
        fn(...args);
        finished = true;
      }
    };

  const callbackContext = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
    succeed: firstCallOnly(succeed),
    fail: firstCallOnly(fail),
    done: firstCallOnly(done),
  };
  const markCompleted = () => {
    isCompleteInvoked = true;
  };
  return [firstCallOnly(callback), callbackContext, markCompleted];
}

function isPromise(obj) {
  return Boolean(obj && typeof obj.then === 'function');
}

// ---------------------------------------------------------------------------
// The invocation loop

class Runtime {
  constructor(client, handler, metadata, errorCallbacks) {
    this.client = client;
    this.handler = handler;
    this.metadata = metadata;
    this.errorCallbacks = errorCallbacks;
    // fatal handles a failure of the client itself (the Runtime API went
    // away): report it if possible, then exit.
    this.fatal = (err) => {
      if (exiting) {
        return;
      }
      exiting = true;
      console.log(`Unexpected Top Level Error: ${err}`);
      this.errorCallbacks.uncaughtException(err);
    };
    this.handleOnce = metadata.streaming ? this.handleOnceStreaming : this.handleOnceNonStreaming;
  }

  // scheduleIteration starts the next iteration on a fresh turn of the
  // event loop.
  scheduleIteration() {
    setImmediate(() => {
      if (exiting) {
        return;
      }
      this.handleOnce().then(() => {}, this.fatal);
    });
  }

  async handleOnceNonStreaming() {
    const { bodyJson, headers } = await this.client.nextInvocation();
    const invokeContext = new InvokeContext(headers);
    invokeContext.updateLoggingContext();
    const id = invokeContext.invokeId;
    const [callback, callbackContext, markCompleted] = buildCallbackContext(
      this.client,
      id,
      this.scheduleIteration.bind(this),
      this.fatal,
    );
    const invocation = { isAsync: this.metadata.isAsync };
    try {
      this.setErrorCallbacks(id);
      this.setDefaultExitListener(id, markCompleted, invocation);
      const result = this.handler(
        JSON.parse(bodyJson),
        invokeContext.attachEnvironmentData(callbackContext),
        callback,
      );
      if (isPromise(result)) {
        invocation.isAsync = true;
        result.then(callbackContext.succeed, callbackContext.fail).catch(callbackContext.fail);
      }
    } catch (err) {
      callback(err);
    }
  }

  async handleOnceStreaming() {
    const { bodyJson, headers } = await this.client.nextInvocation();
    const invokeContext = new InvokeContext(headers);
    invokeContext.updateLoggingContext();
    const id = invokeContext.invokeId;

    let waitForEmptyEventLoop = true;
    const context = {
      get callbackWaitsForEmptyEventLoop() {
        return waitForEmptyEventLoop;
      },
      set callbackWaitsForEmptyEventLoop(value) {
        waitForEmptyEventLoop = value;
      },
    };
    const scheduleNext = () => {
      beforeExit.reset();
      if (!waitForEmptyEventLoop) {
        this.scheduleIteration();
      } else {
        beforeExit.set(() => setImmediate(() => this.scheduleIteration()));
      }
    };
    const hwm = this.metadata.highWaterMark;
    const { responseStream, responseDone, fail: failStream } = this.client.streamResponse(
      id,
      hwm ? { highWaterMark: hwm } : undefined,
    );
    const fail = (err) => {
      structuredConsole.logError('Invoke Error', err);
      failStream(err, scheduleNext);
    };
    try {
      this.setErrorCallbacks(id);
      beforeExit.set(() => this.scheduleIteration());
      const ctx = invokeContext.attachEnvironmentData(context);
      const result = this.handler(JSON.parse(bodyJson), responseStream, ctx);
      if (!isPromise(result)) {
        fail('Streaming does not support non-async handlers.');
        return;
      }
      if ((await result) !== undefined) {
        console.warn('Streaming handlers ignore return values.');
      }
      await responseDone;
      if (!responseStream.writableFinished) {
        fail('Response stream is not finished.');
        return;
      }
      scheduleNext();
    } catch (err) {
      fail(err);
    }
  }

  // setErrorCallbacks makes an uncaught exception or unhandled rejection
  // fail the invocation in progress, after which the process exits (as on
  // AWS) and the host replaces the instance.
  setErrorCallbacks(id) {
    this.errorCallbacks.uncaughtException = (error) => {
      this.client.postInvocationError(error, id).then(NO_OP, NO_OP).then(() => exitProcess(129));
    };
    this.errorCallbacks.unhandledRejection = (error) => {
      this.client.postInvocationError(error, id).then(NO_OP, NO_OP).then(() => exitProcess(128));
    };
  }

  // setDefaultExitListener ends an invocation whose handler never called
  // back once the event loop is empty: a null response for callback and
  // synchronous handlers, Runtime.NodeJsExit for a promise never settled.
  setDefaultExitListener(id, markCompleted, invocation) {
    beforeExit.set(() => {
      beforeExit.reset();
      markCompleted();
      if (invocation.isAsync) {
        const err = new NodeJsExit();
        structuredConsole.logError('Invoke Error', err);
        this.client.postInvocationError(err, id).then(() => this.scheduleIteration(), this.fatal);
      } else {
        this.client.postInvocationResponse(null, id).then(() => this.scheduleIteration(), this.fatal);
      }
    });
  }
}

// ---------------------------------------------------------------------------
// Start

async function start() {
  patchConsole();
  const client = new RuntimeClient(process.env.AWS_LAMBDA_RUNTIME_API ?? '127.0.0.1:9001');

  // Until the first invocation, failures are init errors; the Runtime
  // replaces these callbacks for each invocation.
  const errorCallbacks = {
    uncaughtException: (error) => {
      client.postInitError(error).then(NO_OP, NO_OP).then(() => exitProcess(129));
    },
    unhandledRejection: (error) => {
      client.postInitError(error).then(NO_OP, NO_OP).then(() => exitProcess(128));
    },
  };
  const onUncaughtException = (error) => {
    if (exiting) {
      return;
    }
    exiting = true;
    console.error('Uncaught Exception', toFormatted(error));
    errorCallbacks.uncaughtException(error);
  };
  process.on('uncaughtException', onUncaughtException);
  process.on('unhandledRejection', (reason, promise) => {
    if (exiting) {
      return;
    }
    exiting = true;
    const error = new UnhandledPromiseRejection(reason, promise);
    console.error('Unhandled Promise Rejection', toFormatted(error));
    errorCallbacks.unhandledRejection(error);
  });
  beforeExit.reset();
  process.on('beforeExit', beforeExit.invoke);

  try {
    registerNodePathResolution();
    const handler = await loadHandler(process.env.LAMBDA_TASK_ROOT ?? process.cwd(), process.env._HANDLER ?? '');
    new Runtime(client, handler, handlerMetadata(handler), errorCallbacks).scheduleIteration();
  } catch (error) {
    // AWS's client lets a load failure escape as an uncaught exception:
    // logged as "Uncaught Exception" and posted to /runtime/init/error.
    onUncaughtException(error);
  }
}

start();
