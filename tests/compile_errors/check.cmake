# Compiles SNIPPET with CXX (syntax only) against INCLUDES ("|"-separated). With EXPECT set,
# the compile must fail with exactly one error, and that error must contain EXPECT; without
# it, the snippet must compile.
string(REPLACE "|" ";" include_list "${INCLUDES}")
set(include_args)
foreach(dir IN LISTS include_list)
    list(APPEND include_args "-I${dir}")
endforeach()
execute_process(
    COMMAND ${CXX} -std=c++20 -fsyntax-only ${include_args} ${SNIPPET}
    RESULT_VARIABLE rc
    ERROR_VARIABLE err
    OUTPUT_VARIABLE out)
if(NOT DEFINED EXPECT OR EXPECT STREQUAL "")
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "${SNIPPET} should compile, but:\n${err}")
    endif()
    return()
endif()
if(rc EQUAL 0)
    message(FATAL_ERROR "${SNIPPET} compiled; it should fail with: ${EXPECT}")
endif()
string(REGEX MATCHALL "error: " errors "${err}")
list(LENGTH errors n)
string(FIND "${err}" "${EXPECT}" at)
if(at EQUAL -1 OR NOT n EQUAL 1)
    message(FATAL_ERROR "${SNIPPET}: expected one error containing '${EXPECT}', got ${n}:\n${err}")
endif()
message(STATUS "${SNIPPET}: one error, naming the fix")
