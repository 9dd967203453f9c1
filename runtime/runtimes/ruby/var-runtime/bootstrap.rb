# frozen_string_literal: true

# kumo's runtime interface client for the ruby3.1 managed runtime. It talks
# to the Lambda Runtime API at AWS_LAMBDA_RUNTIME_API and behaves like AWS's
# aws_lambda_ric gem: handlers are FILE.METHOD or FILE.Module::Class.METHOD,
# called as method(event:, context:); errors are reported as
# {errorMessage, errorType: "Function<Class>", stackTrace}; a failure while
# loading the handler file goes to /runtime/init/error as "Init<Class>".
#
# Unlike aws_lambda_ric, a NoMethodError, NameError or other non-StandardError
# raised by a handler does not end the process: every handler error is
# reported and the client waits for the next event, so state survives.
#
# Run as: ruby3.1 /var/runtime/bootstrap.rb [HANDLER]   (default $_HANDLER)

require 'json'
require 'logger'
require 'net/http'
require 'stringio'
require 'time'
require 'uri'

# Lambda attributes output to an invocation by when it was written.
$stdout.sync = true
$stderr.sync = true

# The context passed to handlers, with aws_lambda_ric's names and types:
# memory_limit_in_mb and function_version are the environment's strings,
# identity and client_context the decoded JSON headers (nil when absent).
class LambdaContext
  attr_reader :aws_request_id, :invoked_function_arn, :log_group_name,
              :log_stream_name, :function_name, :memory_limit_in_mb, :function_version,
              :identity, :client_context, :deadline_ms

  def initialize(request)
    @deadline_ms = request['Lambda-Runtime-Deadline-Ms'].to_i
    @aws_request_id = request['Lambda-Runtime-Aws-Request-Id']
    @invoked_function_arn = request['Lambda-Runtime-Invoked-Function-Arn']
    @log_group_name = ENV['AWS_LAMBDA_LOG_GROUP_NAME']
    @log_stream_name = ENV['AWS_LAMBDA_LOG_STREAM_NAME']
    @function_name = ENV['AWS_LAMBDA_FUNCTION_NAME']
    @memory_limit_in_mb = ENV['AWS_LAMBDA_FUNCTION_MEMORY_SIZE']
    @function_version = ENV['AWS_LAMBDA_FUNCTION_VERSION']
    identity = request['Lambda-Runtime-Cognito-Identity'].to_s
    @identity = JSON.parse(identity) unless identity.empty?
    client_context = request['Lambda-Runtime-Client-Context'].to_s
    @client_context = JSON.parse(client_context) unless client_context.empty?
  end

  def get_remaining_time_in_millis
    remaining = @deadline_ms - Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)
    remaining.positive? ? remaining : 0
  end
end

module AwsLambda
  # Turns the Runtime API's event into the handler's event and the handler's
  # return value into the response body. Functions may reopen this class and
  # replace either method, as they can with aws_lambda_ric.
  class Marshaller
    class << self
      # raw_request is the Net::HTTPResponse of /invocation/next.
      def marshall_request(raw_request)
        if raw_request['Content-Type'] == 'application/json'
          JSON.parse(raw_request.body)
        else
          raw_request.body
        end
      end

      # Returns the JSON text, or [io, 'application/unknown'] for an IO or
      # StringIO, whose content is sent as it is.
      def marshall_response(method_response)
        case method_response
        when StringIO, IO
          [method_response, 'application/unknown']
        else
          method_response.to_json
        end
      end
    end
  end
end

module KumoRuntime
  API_VERSION = '2018-06-01'
  RUNTIME_FILE = File.expand_path(__FILE__)
  USER_AGENT = "aws-lambda-ruby/#{RUBY_VERSION} kumo"
  MAX_FRAMES = 100
  INIT_ERROR_EXIT = 252 # aws_lambda_ric's exit(-4)

  # An exception as Lambda reports it. classification is Function, Init or
  # Runtime.
  class LambdaError
    # aws_lambda_ric names these classes in the Lambda-Runtime-Function-
    # Error-Type header and sends every other as Function<UserException>;
    # the body always names the real class.
    HEADER_CLASSES = %w[ArgumentError NoMethodError Exception StandardError NameError
                        LoadError SystemExit SystemStackError].freeze

    attr_reader :error_type

    def initialize(exception, classification)
      @class_name = exception.class.to_s
      @error_type = "#{classification}<#{@class_name}>"
      @message = KumoRuntime.utf8(without_runtime_snippet(exception, safe_message(exception)))
      @stack_trace = KumoRuntime.user_frames(exception)
    end

    def header_type
      HEADER_CLASSES.include?(@class_name) ? @error_type : 'Function<UserException>'
    end

    def to_lambda_response
      { errorMessage: @message, errorType: @error_type, stackTrace: @stack_trace }
    end

    private

    def safe_message(exception)
      exception.message
    rescue Exception # rubocop:disable Lint/RescueException -- a broken #message must not take the runtime down
      exception.class.to_s
    end

    # Ruby's error_highlight appends the line that raised to a NameError's
    # message. When that line is the runtime's own (the call of a missing
    # handler method or class), it says nothing about the function: drop it.
    def without_runtime_snippet(exception, message)
      loc = exception.backtrace_locations&.first
      return message unless loc && (loc.absolute_path || loc.path) == RUNTIME_FILE

      head, sep, tail = message.rpartition("\n\n")
      return message if sep.empty?

      code = tail.lines.first.to_s.strip
      line = File.readlines(RUNTIME_FILE)[loc.lineno - 1].to_s.strip
      !code.empty? && code == line ? head : message
    rescue StandardError
      message
    end
  end

  # Frames of the function's code: the backtrace up to the first frame in
  # this file, so the runtime's own frames never show, as in AWS.
  def self.user_frames(exception)
    frames = exception.backtrace_locations&.map { |l| [l.absolute_path || l.path, l.to_s] } ||
             (exception.backtrace || []).map { |s| [s[/\A[^:]*/], s] }
    out = []
    frames.each do |path, text|
      break if path == RUNTIME_FILE || out.size == MAX_FRAMES

      out << utf8(text)
    end
    out
  end

  def self.utf8(s)
    s = s.to_s
    s = s.dup.force_encoding(Encoding::UTF_8) if s.encoding == Encoding::BINARY
    s = s.encode(Encoding::UTF_8, invalid: :replace, undef: :replace) unless s.encoding == Encoding::UTF_8
    s.valid_encoding? ? s : s.scrub
  end

  def self.flush_output
    [$stdout, $stderr, STDOUT, STDERR].uniq.each do |io|
      io.flush if io.respond_to?(:flush)
    rescue StandardError
      nil
    end
  end

  # aws_lambda_ric prints each error to the function's log before sending it.
  def self.log_error(message, error)
    puts message
    puts JSON.pretty_generate(error.to_lambda_response)
  rescue StandardError
    nil
  end

  # Client for the Runtime API. Each request uses its own connection, as
  # aws_lambda_ric does, and never a proxy from HTTP_PROXY: the function's
  # environment may name one for its own traffic.
  class Client
    def initialize(address)
      uri = URI("http://#{address}")
      @host = uri.hostname
      @port = uri.port
      @base = "/#{API_VERSION}/runtime"
    end

    # Blocks until the next event; returns [request_id, Net::HTTPResponse].
    def next_invocation
      # No read timeout: the sandbox may be frozen for any time while it
      # waits here, and a timer that fires on thaw would end the runtime.
      resp = request(Net::HTTP::Get.new("#{@base}/invocation/next", headers), read_timeout: nil)
      unless resp.is_a?(Net::HTTPSuccess)
        raise "runtime api: /invocation/next returned #{resp.code}: #{resp.body}"
      end

      id = resp['Lambda-Runtime-Aws-Request-Id']
      raise 'runtime api: /invocation/next returned no Lambda-Runtime-Aws-Request-Id' if id.to_s.empty?

      [id, resp]
    end

    def send_response(request_id, body, content_type)
      post("/invocation/#{request_id}/response", body, 'Content-Type' => content_type)
    end

    def send_error(request_id, error)
      post("/invocation/#{request_id}/error", JSON.generate(error.to_lambda_response),
           'Content-Type' => 'application/json', 'Lambda-Runtime-Function-Error-Type' => error.header_type)
    end

    def send_init_error(error)
      post('/init/error', JSON.generate(error.to_lambda_response),
           'Content-Type' => 'application/json', 'Lambda-Runtime-Function-Error-Type' => error.header_type)
    end

    private

    def headers(extra = {})
      { 'User-Agent' => USER_AGENT }.merge(extra)
    end

    # The answer's status is not checked, as in aws_lambda_ric: a refused
    # answer (a response over the size limit, an invocation that timed out)
    # has already been settled by the Runtime API. A failed POST (the API
    # may drop the connection after refusing an oversized body unread) is
    # logged, not fatal: if the API is really gone, the next
    # /invocation/next ends the runtime.
    def post(path, body, extra)
      req = Net::HTTP::Post.new(@base + path, headers(extra))
      req.body = body
      request(req, read_timeout: 60)
    rescue SystemCallError, IOError, Net::ProtocolError, Timeout::Error => e
      warn("runtime api: POST #{path}: #{e.class}: #{e.message}")
    end

    def request(req, read_timeout:)
      http = Net::HTTP.new(@host, @port, nil)
      http.read_timeout = read_timeout
      http.start { |conn| conn.request(req) }
    end
  end

  # The handler named by _HANDLER: FILE.METHOD calls a top-level method,
  # FILE.Module::Class.METHOD a method of that class or module.
  class Handler
    attr_reader :file_name

    def initialize(spec)
      parts = spec.to_s.split('.')
      case parts.size
      when 2 then @file_name, @method_name = parts
      when 3 then @file_name, @class_name, @method_name = parts
      else
        raise ArgumentError, "Invalid handler #{parts}, must be of form FILENAME.METHOD or FILENAME.CLASS.METHOD " \
                             'where FILENAME corresponds with an existing Ruby source file FILENAME.rb, CLASS is an ' \
                             'optional module/class namespace and METHOD is a callable method. If using CLASS, ' \
                             'METHOD must be a class-level method.'
      end
    end

    # Calls the handler and returns [body, content_type]. Serialising is part
    # of the call, so a return value JSON cannot represent is the
    # function's error.
    def call(event, context)
      receiver = @class_name ? Kernel.const_get(@class_name) : TOPLEVEL_BINDING.receiver
      response = receiver.__send__(@method_name, event: event, context: context)
      body, content_type = AwsLambda::Marshaller.marshall_response(response)
      body = body.read if content_type == 'application/unknown'
      [body, content_type || 'application/json']
    end
  end

  def self.main(argv, env)
    address = env['AWS_LAMBDA_RUNTIME_API']
    abort('AWS_LAMBDA_RUNTIME_API is not set') if address.to_s.empty?
    client = Client.new(address)
    handler = init(client, argv.first || env['_HANDLER'], env)
    loop { invoke(client, handler) }
  rescue SignalException
    # SIGTERM while waiting for work: a normal shutdown.
    exit(0)
  end

  # Loads the function's code. Anything raised (a missing file, a syntax
  # error, an exception at the top of the file) is the function's init
  # error, after which the process exits like aws_lambda_ric's.
  def self.init(client, handler_spec, env)
    task_root = env['LAMBDA_TASK_ROOT'] || Dir.pwd
    # Layers put libraries in /opt/ruby/lib (and gems under GEM_PATH, which
    # the image sets). _KUMO_OPT_DIR replaces /opt for tests on the host.
    layer_lib = File.join(env['_KUMO_OPT_DIR'] || '/opt', 'ruby', 'lib')
    [layer_lib, task_root].each { |dir| $LOAD_PATH.unshift(dir) unless $LOAD_PATH.include?(dir) }
    begin
      handler = Handler.new(handler_spec)
      require handler.file_name
      handler
    rescue Exception => e # rubocop:disable Lint/RescueException -- LoadError, SyntaxError and SystemExit are init errors too
      error = LambdaError.new(e, 'Init')
      log_error("Init error when loading handler #{handler_spec}", error)
      flush_output
      client.send_init_error(error)
      exit(INIT_ERROR_EXIT)
    end
  end

  def self.invoke(client, handler)
    request_id, raw = client.next_invocation
    $_global_aws_request_id = request_id
    if (trace_id = raw['Lambda-Runtime-Trace-Id'])
      ENV['_X_AMZN_TRACE_ID'] = trace_id
    else
      ENV.delete('_X_AMZN_TRACE_ID')
    end

    begin
      event = AwsLambda::Marshaller.marshall_request(raw)
      context = LambdaContext.new(raw)
    rescue StandardError => e
      flush_output
      client.send_error(request_id, LambdaError.new(e, 'Runtime'))
      return
    end

    begin
      body, content_type = handler.call(event, context)
    rescue Exception => e # rubocop:disable Lint/RescueException -- every handler failure is the function's error
      error = LambdaError.new(e, 'Function')
      log_error('Error raised from handler method', error)
      flush_output
      client.send_error(request_id, error)
      raise if e.is_a?(SignalException)

      return
    end
    flush_output
    client.send_response(request_id, body, content_type)
  end
end

KumoRuntime.main(ARGV, ENV) if $PROGRAM_NAME == __FILE__
