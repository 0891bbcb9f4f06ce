// airlockDeploy: the airlock deploy lane as a Jenkins shared-library step, a thin wrapper over
// `airlock deploy` (this repository is the library: vars/ and resources/ at its root).
//
//   @Library('airlock@v0.1.0') _
//   withAWS(role: 'arn:aws:iam::111122223333:role/airlock-ci', region: 'eu-west-1') {
//     airlockDeploy(job: 'web', params: [VERSION: env.GIT_COMMIT])
//   }
//
// The lane's three values come from the arguments or from the environment
// (AIRLOCK_LANE_TOPIC_ARN, AIRLOCK_LANE_FEEDBACK_QUEUE_URL, AIRLOCK_LANE_SIGNING_KEY_ID).
// The job's output appears live in the build log; when the job fails, the step fails with
// its exit code in the message, or returns the code with `returnStatus: true`.
// Every value reaches the shell as an environment variable, never as Groovy-interpolated
// shell text, so no value can inject a command. Usage: docs/ci.md.

import groovy.transform.Field

// The argument each option fills, and the environment variable the deploy script reads it from.
@Field static final Map<String, String> OPTIONS = [
    topicArn        : 'AIRLOCK_LANE_TOPIC_ARN',
    feedbackQueueUrl: 'AIRLOCK_LANE_FEEDBACK_QUEUE_URL',
    signingKeyId    : 'AIRLOCK_LANE_SIGNING_KEY_ID',
    config          : 'AIRLOCK_CONFIG',
    job             : 'AIRLOCK_DEPLOY_JOB',
    image           : 'AIRLOCK_DEPLOY_IMAGE',
    timeout         : 'AIRLOCK_DEPLOY_TIMEOUT',
    watchdog        : 'AIRLOCK_DEPLOY_WATCHDOG',
    region          : 'AIRLOCK_DEPLOY_REGION',
    airlockVersion  : 'AIRLOCK_VERSION',
    airlockSha256   : 'AIRLOCK_SHA256',
    releaseUrl      : 'AIRLOCK_RELEASE_URL',
]

// The release installed when the agent has no airlock on PATH.
@Field static final String DEFAULT_AIRLOCK_VERSION = '0.1.0'

def call(Map args = [:]) {
    def problem = problemWith(args)
    if (problem) {
        error("airlockDeploy: ${problem}")
    }
    def script = "${pwd(tmp: true)}/airlock-deploy.sh"
    writeFile(file: script, text: libraryResource('airlock/deploy.sh'))
    int code = 0
    withEnv(environmentFor(args) + ["AIRLOCK_DEPLOY_SCRIPT=${script}"]) {
        // Single quotes: the shell, not Groovy, expands the variable.
        code = sh(script: 'exec bash "$AIRLOCK_DEPLOY_SCRIPT"', returnStatus: true)
    }
    if (args.returnStatus) {
        return code
    }
    if (code != 0) {
        error("airlockDeploy: job ${args.job} failed with exit code ${code} (docs/ci.md lists the lane's own codes)")
    }
    return code
}

// What is wrong with the arguments, or null: an unknown name (a typo would otherwise be
// ignored), no job, or a parameter value with a line break (a parameter is one line).
@NonCPS
private static String problemWith(Map args) {
    def known = OPTIONS.keySet() + ['params', 'local', 'returnStatus']
    def unknown = args.keySet().findAll { !(it in known) }
    if (unknown) {
        return "unknown argument(s) ${unknown.sort().join(', ')}; known: ${known.sort().join(', ')}"
    }
    if (!args.job) {
        return "job is required, e.g. airlockDeploy(job: 'web')"
    }
    if (args.params instanceof Map) {
        def broken = args.params.findAll { name, value -> value != null && value.toString() =~ /[\r\n]/ }
        if (broken) {
            return "params.${broken.keySet().sort().join(', params.')}: a parameter is one line"
        }
    }
    return null
}

// The deploy script's environment (resources/airlock/deploy.sh documents each variable).
@NonCPS
private static List<String> environmentFor(Map args) {
    def vars = ["AIRLOCK_DEPLOY_PARAMS=${paramLines(args.params)}",
                "AIRLOCK_DEPLOY_LOCAL=${args.local ? 'true' : 'false'}"]
    OPTIONS.each { name, variable ->
        def value = args[name] != null ? args[name] : (name == 'airlockVersion' ? DEFAULT_AIRLOCK_VERSION : null)
        if (value != null) {
            vars << "${variable}=${value}"
        }
    }
    return vars.collect { it.toString() }
}

// The job's parameters as NAME=VALUE lines: from a map, a list of NAME=VALUE strings, or
// lines already.
@NonCPS
private static String paramLines(params) {
    if (params == null) {
        return ''
    }
    if (params instanceof Map) {
        return params.collect { name, value -> "${name}=${value == null ? '' : value}" }.join('\n')
    }
    if (params instanceof List) {
        return params.collect { it.toString() }.join('\n')
    }
    return params.toString()
}
