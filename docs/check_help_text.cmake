# Checks that the help text quoted in documentation is the one the program prints: in each
# file of DOCS (|-separated, relative to ROOT), every fenced block that comes right after a
# `<!-- output of NAME --help -->` line must be exactly what `PROGRAM --help` writes to
# stdout (spaces at the ends of lines and blank lines at the end aside). At least one such
# block must exist, so that a renamed marker cannot pass silently.
#
# cmake -DROOT=<source dir> -DDOCS=README.md|docs/a.md -DNAME=canal-chat -DPROGRAM=<path>
#       -P check_help_text.cmake
cmake_minimum_required(VERSION 3.25)

foreach(var ROOT DOCS NAME PROGRAM)
    if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
        message(FATAL_ERROR "check_help_text.cmake: -D${var}=... is required")
    endif()
endforeach()

execute_process(COMMAND ${PROGRAM} --help RESULT_VARIABLE rc OUTPUT_VARIABLE help
    ERROR_VARIABLE errors)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${PROGRAM} --help failed (${rc}): ${errors}")
endif()
# What markdown keeps of it: no spaces at the ends of lines, no blank lines at the end.
string(REGEX REPLACE " +\n" "\n" help "${help}")
string(REGEX REPLACE "\n+$" "\n" help "${help}")

set(marker "<!-- output of ${NAME} --help -->\n")
string(LENGTH "${marker}" marker_length)
set(failures 0)
set(checked 0)
string(REPLACE "|" ";" docs "${DOCS}")
foreach(doc_name IN LISTS docs)
    file(READ ${ROOT}/${doc_name} doc)
    set(pos 0)
    while(TRUE)
        string(SUBSTRING "${doc}" ${pos} -1 rest)
        string(FIND "${rest}" "${marker}" found)
        if(found EQUAL -1)
            break()
        endif()
        math(EXPR open "${pos} + ${found} + ${marker_length}")
        string(SUBSTRING "${doc}" ${open} -1 rest)
        if(NOT rest MATCHES "^```[a-z]*\n")
            message(SEND_ERROR "${doc_name}: the `${NAME} --help` marker is not followed by a "
                "fenced block")
            math(EXPR failures "${failures} + 1")
            break()
        endif()
        string(FIND "${rest}" "\n" eol)
        math(EXPR body "${open} + ${eol} + 1")
        string(SUBSTRING "${doc}" ${body} -1 rest)
        string(FIND "${rest}" "\n```\n" close)
        if(close EQUAL -1)
            message(SEND_ERROR "${doc_name}: unterminated block after the `${NAME} --help` marker")
            math(EXPR failures "${failures} + 1")
            break()
        endif()
        math(EXPR length "${close} + 1")
        string(SUBSTRING "${doc}" ${body} ${length} block)
        math(EXPR pos "${body} + ${length}")
        math(EXPR checked "${checked} + 1")
        if(NOT block STREQUAL help)
            message(SEND_ERROR "${doc_name}: the `${NAME} --help` text differs from what the "
                "program prints; paste this:\n${help}")
            math(EXPR failures "${failures} + 1")
        endif()
    endwhile()
endforeach()
if(checked EQUAL 0)
    message(FATAL_ERROR "no `<!-- output of ${NAME} --help -->` block in ${DOCS}")
endif()
message(STATUS "${checked} `${NAME} --help` block(s) checked")
if(failures GREATER 0)
    message(FATAL_ERROR "${failures} help text(s) drifted from ${NAME} --help")
endif()
