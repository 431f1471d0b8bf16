# The local base image for tests and CI, where no image can be pulled: an
# empty image, Debian's static busybox with a symlink per applet (sh, wget,
# ls, cat, ...) in /bin, and a writable /tmp. Built by
# `covtools images --base local`, whose build context holds that
# tree in rootfs/ (one COPY, no RUN: scratch has no shell to run).
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/bin:/usr/bin:/bin
CMD ["/bin/sh"]
