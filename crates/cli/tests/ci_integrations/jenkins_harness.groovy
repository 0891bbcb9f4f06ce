// Runs the shared-library step vars/airlockDeploy.groovy as Jenkins would, outside Jenkins:
// the step is compiled as a library script and called, and the pipeline steps it uses are
// done here the way Jenkins does them:
//   sh         runs `sh -xe -c SCRIPT` in the workspace with the build's environment, output
//              to this process's stdout; `returnStatus: true` returns the exit code, otherwise
//              a non-zero code fails the step ("script returned exit code N")
//   withEnv    adds NAME=VALUE pairs to the environment of the steps in its body
//   error      fails the step with the message
//   pwd        the workspace, or with `tmp: true` the workspace's @tmp directory
//   writeFile, libraryResource (from the library's resources/), echo
//
//   groovy jenkins_harness.groovy LIBRARY_ROOT WORKSPACE 'airlockDeploy(job: "web")'
//   groovy jenkins_harness.groovy --parse FILE...     (syntax check only)
//
// The third argument is the step call, as a Jenkinsfile would write it. A failed step prints
// "ERROR: message" and exits 1 (Jenkins marks the build FAILURE); otherwise the step's return
// value is printed as "RESULT: value" and the harness exits 0.

import org.codehaus.groovy.control.CompilerConfiguration

class StepFailed extends RuntimeException {
    StepFailed(String message) { super(message) }
}

abstract class PipelineSteps extends Script {
    static File library
    static File workspace
    static List<List<String>> envStack = []

    Map<String, String> buildEnvironment() {
        def env = new LinkedHashMap<String, String>(System.getenv())
        envStack.each { vars ->
            vars.each { pair ->
                int eq = pair.indexOf('=')
                if (eq <= 0) {
                    throw new StepFailed("withEnv: ${pair} is not NAME=VALUE")
                }
                env[pair.substring(0, eq)] = pair.substring(eq + 1)
            }
        }
        env
    }

    def getEnv() { buildEnvironment() }

    def withEnv(List vars, Closure body) {
        envStack.push(vars.collect { it.toString() })
        try {
            body()
        } finally {
            envStack.pop()
        }
    }

    def sh(Map args) {
        def builder = new ProcessBuilder(['sh', '-xe', '-c', args.script.toString()])
        builder.directory(workspace)
        builder.environment().clear()
        builder.environment().putAll(buildEnvironment())
        builder.redirectErrorStream(true)
        def process = builder.start()
        // Copied as it comes: the test reads this process's output live.
        def input = process.inputStream
        byte[] buffer = new byte[8192]
        int n
        while ((n = input.read(buffer)) > 0) {
            System.out.write(buffer, 0, n)
            System.out.flush()
        }
        int code = process.waitFor()
        if (args.returnStatus) {
            return code
        }
        if (code != 0) {
            throw new StepFailed("script returned exit code ${code}")
        }
        null
    }

    def error(String message) { throw new StepFailed(message) }

    def echo(message) { println message }

    def pwd(Map args = [:]) {
        if (args.tmp) {
            def tmp = new File(workspace.path + '@tmp')
            tmp.mkdirs()
            return tmp.path
        }
        workspace.path
    }

    def writeFile(Map args) { new File(args.file.toString()).text = args.text.toString() }

    def libraryResource(String path) { new File(library, "resources/${path}").text }
}

if (args.length >= 1 && args[0] == '--parse') {
    // Syntax only (Groovy's CONVERSION phase), as Jenkins reads a Jenkinsfile before it
    // resolves @Library and the steps.
    args.drop(1).each { path ->
        def unit = new org.codehaus.groovy.control.CompilationUnit()
        unit.addSource(new File(path))
        unit.compile(org.codehaus.groovy.control.Phases.CONVERSION)
        println "parsed ${path}"
    }
    System.exit(0)
}
if (args.length != 3) {
    System.err.println('usage: jenkins_harness.groovy LIBRARY_ROOT WORKSPACE STEP_CALL')
    System.err.println('       jenkins_harness.groovy --parse FILE...')
    System.exit(2)
}
PipelineSteps.library = new File(args[0])
PipelineSteps.workspace = new File(args[1])

def loader = new GroovyClassLoader(this.class.classLoader)
// Jenkins knows @NonCPS; plain Groovy needs the annotation type to exist.
loader.parseClass('''package com.cloudbees.groovy.cps
import java.lang.annotation.*
@Retention(RetentionPolicy.RUNTIME) @Target(ElementType.METHOD) @interface NonCPS {}''')
def config = new CompilerConfiguration()
config.scriptBaseClass = PipelineSteps.name
def imports = new org.codehaus.groovy.control.customizers.ImportCustomizer()
imports.addImports('com.cloudbees.groovy.cps.NonCPS')
config.addCompilationCustomizers(imports)
def shell = new GroovyShell(loader, new Binding(), config)

// Each file in vars/ is a global variable named after it, as Jenkins makes them.
def steps = new Binding()
new File(PipelineSteps.library, 'vars').eachFileMatch(~/.*\.groovy/) { file ->
    def step = shell.parse(file)
    steps.setVariable(file.name - '.groovy', step)
}
def caller = shell.parse(args[2])
caller.binding = steps
try {
    def result = caller.run()
    println "RESULT: ${result}"
    System.exit(0)
} catch (StepFailed e) {
    println "ERROR: ${e.message}"
    System.exit(1)
}
