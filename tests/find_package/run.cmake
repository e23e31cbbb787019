# The find_package_consumer test: installs the built canal into a scratch prefix, then
# configures, builds and runs tests/find_package against it. The tutorial_steps test
# (docs/CMakeLists.txt) builds the tutorial's project the same way, step by step (STEPS).
#
# cmake -DCANAL_BINARY_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -DGENERATOR=...
#       -DCXX=... [-DLAUNCHER=...] [-DBUILD_TYPE=...] [-DCXX_FLAGS=...] [-DLINKER_FLAGS=...]
#       [-DRUN=program|arg...] [-DSTEPS=dir|dir...] [-DONLY_LAST=ON] [-DTEST=ON] -P run.cmake
#
# RUN is what runs after a build (a program of the build directory; default: echo_consumer).
# STEPS builds a project in stages, as a reader following a tutorial edits one project: the
# files of each SOURCE_DIR/<dir> in turn are copied over WORK_DIR/src, then the project is
# built and RUN (ONLY_LAST=ON: after the last step only). TEST=ON then runs the project's
# own ctest.
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
run("build canal" ${CMAKE_COMMAND} --build ${CANAL_BINARY_DIR} --target canal canal_django canal-chat)
run("install canal into ${prefix}" ${CMAKE_COMMAND} --install ${CANAL_BINARY_DIR} --prefix ${prefix})

# What gets installed: the package, and at most canal's own programs and data. Tests,
# test support and build leftovers must not be.
file(GLOB_RECURSE installed RELATIVE ${prefix} ${prefix}/*)
foreach(f IN LISTS installed)
    if(NOT f MATCHES "^(include/canal/|lib[^/]*/libcanal(_django)?\\.a$|lib[^/]*/cmake/canal/|lib[^/]*/pkgconfig/canal\\.pc$|bin/canal-|share/canal)")
        message(FATAL_ERROR "find_package test: unexpected file installed: ${f} "
            "(extend the list in this script if it is meant to be installed)")
    endif()
endforeach()

set(source ${SOURCE_DIR})
if(STEPS)
    set(source ${WORK_DIR}/src)
    file(REMOVE_RECURSE ${source})
endif()
set(configure_args -S ${source} -B ${build} -G ${GENERATOR}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX})
if(LAUNCHER)
    list(APPEND configure_args -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()
if(BUILD_TYPE)
    list(APPEND configure_args -DCMAKE_BUILD_TYPE=${BUILD_TYPE})
endif()
# Sanitizer builds: the consumer must be compiled and linked like the library.
list(APPEND configure_args "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}")

set(run_command echo_consumer)
if(RUN)
    string(REPLACE "|" ";" run_command "${RUN}")
endif()
list(POP_FRONT run_command run_program)

if(NOT STEPS)
    run("configure the consumer project" ${CMAKE_COMMAND} ${configure_args})
    run("build the consumer project" ${CMAKE_COMMAND} --build ${build})
    run("run the consumer" ${build}/${run_program} ${run_command})
    # Without CMake: the compiler with pkg-config's flags for canal.pc.
    if(EXISTS ${SOURCE_DIR}/pkg_config_main.cpp)
        file(GLOB pc_dirs ${prefix}/lib*/pkgconfig ${prefix}/lib/*/pkgconfig)
        set(ENV{PKG_CONFIG_PATH} "${pc_dirs}")
        execute_process(COMMAND pkg-config --cflags --libs canal
            OUTPUT_VARIABLE pc_flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
        if(NOT rc EQUAL 0)
            message(FATAL_ERROR "find_package test: pkg-config --cflags --libs canal failed (${rc})")
        endif()
        message(STATUS "find_package test: pkg-config --cflags --libs canal: ${pc_flags}")
        separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
        separate_arguments(extra_cxx UNIX_COMMAND "${CXX_FLAGS}")
        separate_arguments(extra_ld UNIX_COMMAND "${LINKER_FLAGS}")
        run("compile and link with pkg-config's flags" ${CXX} -std=c++20 ${extra_cxx}
            ${SOURCE_DIR}/pkg_config_main.cpp ${pc_flags} ${extra_ld} -o ${build}/pkg_config_consumer)
        run("run the pkg-config consumer" ${build}/pkg_config_consumer)
    endif()
else()
    string(REPLACE "|" ";" steps "${STEPS}")
    list(GET steps -1 last_step)
    foreach(step IN LISTS steps)
        file(GLOB_RECURSE files RELATIVE ${SOURCE_DIR}/${step} ${SOURCE_DIR}/${step}/*)
        foreach(f IN LISTS files)
            file(SHA256 ${SOURCE_DIR}/${step}/${f} new_hash)
            set(old_hash "")
            if(EXISTS ${source}/${f})
                file(SHA256 ${source}/${f} old_hash)
            endif()
            if(NOT new_hash STREQUAL old_hash)
                get_filename_component(dir ${source}/${f} DIRECTORY)
                file(MAKE_DIRECTORY ${dir})
                file(COPY_FILE ${SOURCE_DIR}/${step}/${f} ${source}/${f})
                # Newer than what the last build made, or the build tool may skip it.
                file(TOUCH_NOCREATE ${source}/${f})
            endif()
        endforeach()
        if(ONLY_LAST AND NOT step STREQUAL last_step)
            continue()
        endif()
        if(NOT EXISTS ${build}/CMakeCache.txt)
            run("${step}: configure" ${CMAKE_COMMAND} ${configure_args})
        endif()
        run("${step}: build" ${CMAKE_COMMAND} --build ${build})
        run("${step}: run ${run_program}" ${build}/${run_program} ${run_command})
    endforeach()
    if(TEST)
        run("the project's tests" ${CMAKE_CTEST_COMMAND} --test-dir ${build}
            --output-on-failure)
    endif()
endif()
