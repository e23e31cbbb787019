# The find_package_consumer test: installs the built canal into a scratch prefix, then
# configures, builds and runs tests/find_package against it.
#
# cmake -DCANAL_BINARY_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -DGENERATOR=...
#       -DCXX=... [-DLAUNCHER=...] [-DBUILD_TYPE=...] [-DCXX_FLAGS=...] [-DLINKER_FLAGS=...]
#       -P run.cmake
foreach(var CANAL_BINARY_DIR SOURCE_DIR WORK_DIR GENERATOR CXX)
    if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
        message(FATAL_ERROR "run.cmake: -D${var}=... is required")
    endif()
endforeach()

# run(step COMMAND...): runs a command, stops with its output when it fails.
function(run step)
    message(STATUS "find_package test: ${step}")
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "find_package test: ${step} failed (${rc})")
    endif()
endfunction()

set(prefix ${WORK_DIR}/prefix)
set(build ${WORK_DIR}/build)
file(REMOVE_RECURSE ${prefix} ${build})

# The library must be built before it can be installed (a no-op after a full build).
run("build canal" ${CMAKE_COMMAND} --build ${CANAL_BINARY_DIR} --target canal)
run("install canal into ${prefix}" ${CMAKE_COMMAND} --install ${CANAL_BINARY_DIR} --prefix ${prefix})

# What gets installed: the package, and at most canal's own programs and data. Tests,
# test support and build leftovers must not be.
file(GLOB_RECURSE installed RELATIVE ${prefix} ${prefix}/*)
foreach(f IN LISTS installed)
    if(NOT f MATCHES "^(include/canal/|lib[^/]*/libcanal\\.a$|lib[^/]*/cmake/canal/|bin/canal-|share/canal)")
        message(FATAL_ERROR "find_package test: unexpected file installed: ${f} "
            "(extend the list in this script if it is meant to be installed)")
    endif()
endforeach()

set(configure_args -S ${SOURCE_DIR} -B ${build} -G ${GENERATOR}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX})
if(LAUNCHER)
    list(APPEND configure_args -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()
if(BUILD_TYPE)
    list(APPEND configure_args -DCMAKE_BUILD_TYPE=${BUILD_TYPE})
endif()
# Sanitizer builds: the consumer must be compiled and linked like the library.
list(APPEND configure_args "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}")

run("configure the consumer project" ${CMAKE_COMMAND} ${configure_args})
run("build the consumer project" ${CMAKE_COMMAND} --build ${build})
run("run the consumer" ${build}/echo_consumer)
