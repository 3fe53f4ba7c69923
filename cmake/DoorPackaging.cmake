# SPDX-License-Identifier: MIT
#
# DoorPackaging.cmake — what `cmake --install` puts where (GNUInstallDirs),
# beyond libdoor.so.1 and the C headers (userspace/CMakeLists.txt):
#   include/door/*.hpp                 the header-only C++20 API
#   lib*/pkgconfig/door.pc             pkg-config (relocatable)
#   lib*/cmake/door/doorConfig*.cmake  find_package(door) -> door::door
#   share/man/man1, man3, man7         the man pages (doc/man)
#   bin/doorstat                       tools/doorstat (its own CMakeLists)
#   include/door_async.h, door/async.hpp  only with asynchronous calls
# Internal headers (userspace/*.h) are never installed.
include(CMakePackageConfigHelpers)

set(DOOR_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/door)
set(DOOR_PKGCONFIG_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

set(_door_hpp_exclude "")
if(NOT DOOR_HAVE_ASYNC)  # <door/async.hpp> needs libdoor's async calls
  set(_door_hpp_exclude PATTERN "async.hpp" EXCLUDE)
endif()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/door
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp" ${_door_hpp_exclude})

# pkg-config: prefix is ${pcfiledir} plus the way up from the pkgconfig dir.
file(RELATIVE_PATH DOOR_PC_RELATIVE_PREFIX
     ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" DOOR_PC_RELATIVE_PREFIX "${DOOR_PC_RELATIVE_PREFIX}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/door.pc.in ${PROJECT_BINARY_DIR}/door.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/door.pc DESTINATION ${DOOR_PKGCONFIG_DIR})

# CMake package: door::door, found with find_package(door CONFIG).
install(EXPORT doorTargets NAMESPACE door:: FILE doorTargets.cmake DESTINATION ${DOOR_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/doorConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/doorConfig.cmake
                              INSTALL_DESTINATION ${DOOR_CMAKE_DIR})
# The ABI is versioned by the SONAME (libdoor.so.1): any 1.x satisfies a
# request for 1.y with y <= x. 0.x releases carry SONAME 1 as well.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/doorConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/doorConfig.cmake ${PROJECT_BINARY_DIR}/doorConfigVersion.cmake
        DESTINATION ${DOOR_CMAKE_DIR})

# Man pages.
file(GLOB DOOR_MAN1 CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/doc/man/*.1)
file(GLOB DOOR_MAN3 CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/doc/man/*.3)
file(GLOB DOOR_MAN7 CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/doc/man/*.7)
if(NOT DOOR_HAVE_ASYNC)  # no asynchronous calls in this libdoor
  list(FILTER DOOR_MAN3 EXCLUDE REGEX "/door_(async|call_async)_[a-z_]*\\.3$")
endif()
if(TARGET doorstat)
  install(FILES ${DOOR_MAN1} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endif()
install(FILES ${DOOR_MAN3} DESTINATION ${CMAKE_INSTALL_MANDIR}/man3)
install(FILES ${DOOR_MAN7} DESTINATION ${CMAKE_INSTALL_MANDIR}/man7)
